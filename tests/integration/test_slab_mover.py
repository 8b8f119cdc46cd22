"""The page mover in a running daemon (`-o slab_reassign`): `slabs reassign` and `slabs
automove` over a socket, the counters in `stats`, and a mover working under concurrent gets
and sets of the same keys with the stress tool's verifier finding no corrupted value."""

import json
import subprocess
import sys
import threading
import time

import pytest

from tests.integration.helpers import Conn, stats

pytestmark = pytest.mark.integration

MB = 1 << 20
MOVER_STATS = ["slab_reassign_rescues", "slab_reassign_chunk_rescues",
               "slab_reassign_evictions_nomem", "slab_reassign_inline_reclaim",
               "slab_reassign_busy_items", "slab_reassign_busy_deletes",
               "slab_reassign_running", "slabs_moved"]


def wait_moved(conn, n, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = stats(conn)
        if int(s["slabs_moved"]) >= n and s["slab_reassign_running"] == "0":
            return s
        time.sleep(0.02)
    raise AssertionError(f"no move finished: {s}")


def test_reassign_disabled_without_the_option(make_daemon):
    d = make_daemon(slab_reassign=False)
    c = Conn(d.host, d.port)
    assert c.cmd(b"slabs reassign 1 2\r\n") == b"CLIENT_ERROR slab reassignment disabled\r\n"
    s = stats(c)
    assert not set(MOVER_STATS) & set(s) and s["slab_global_page_pool"] == "0"
    assert stats(c, b"settings")["slab_reassign"] == "no"


def test_reassign_moves_a_page_to_the_pool_and_back(make_daemon):
    d = make_daemon(memory_limit=8 * MB, slab_reassign=True)
    c = Conn(d.host, d.port)
    s = stats(c)
    assert [k for k in s if k in MOVER_STATS] == MOVER_STATS     # memcached's order
    assert c.cmd(b"slabs reassign 4 0\r\n") == b"NOSPARE source class has no spare pages\r\n"
    c.send(b"".join(b"set k%d 0 0 100 noreply\r\n%s\r\n" % (i, b"%100d" % i)
                    for i in range(12000)))
    assert c.cmd(b"mn\r\n") == b"MN\r\n"
    c.send(b"".join(b"delete k%d noreply\r\n" % i for i in range(0, 12000, 2)))
    assert c.cmd(b"mn\r\n") == b"MN\r\n"
    assert c.cmd(b"slabs reassign 4 0\r\n") == b"OK\r\n"
    s = wait_moved(c, 1)
    assert s["slab_global_page_pool"] == "1" and int(s["slab_reassign_rescues"]) > 0
    assert s["slab_reassign_evictions_nomem"] == "0"
    for i in range(1, 12000, 2):
        key = b"k%d" % i
        assert c.cmd(b"get %s\r\n" % key, b"END\r\n") == (
            b"VALUE %s 0 100\r\n%s\r\nEND\r\n" % (key, b"%100d" % i))
    slabs = stats(c, b"slabs")
    assert slabs["4:total_pages"] == "2"
    assert c.cmd(b"slabs reassign 0 4\r\n") == b"NOSPARE source class has no spare pages\r\n"
    c.cmd(b"set big 0 0 5000\r\n" + b"b" * 5000 + b"\r\n")      # a new class: the pool page
    assert stats(c)["slab_global_page_pool"] == "0"


def test_automove_settings_are_live(make_daemon):
    d = make_daemon(slab_reassign=True, slab_automove=1)
    c = Conn(d.host, d.port)
    st = stats(c, b"settings")
    assert (st["slab_reassign"], st["slab_automove"], st["slab_automove_ratio"]) == (
        "yes", "1", "0.80")
    assert c.cmd(b"slabs automove 2\r\n") == b"OK\r\n"
    assert c.cmd(b"slabs automove ratio 0.5\r\n") == b"OK\r\n"
    st = stats(c, b"settings")
    assert (st["slab_automove"], st["slab_automove_ratio"]) == ("2", "0.50")


def test_mover_under_concurrent_gets_and_sets_never_corrupts(make_daemon, tmp_path):
    """Mode 2 asks for a page on every eviction and a thread asks for moves too, while the
    stress tool reads and overwrites the same keys and checks every byte it gets back."""
    d = make_daemon(memory_limit=12 * MB, slab_reassign=True, slab_automove=2)
    stop = threading.Event()
    replies = []

    def ask_moves():
        c = Conn(d.host, d.port)
        n = 0
        while not stop.is_set():
            n += 1
            replies.append(c.cmd(b"slabs reassign -1 %d\r\n" % (n % 20)))
            time.sleep(0.01)

    asker = threading.Thread(target=ask_moves, daemon=True)
    asker.start()
    argv = [sys.executable, "-m", "bench.stress", "--target", f"{d.host}:{d.port}",
            "--duration", "4", "--keys", "12000", "--value-size", "400-2400", "--workers", "2",
            "--conns", "4", "--out-dir", str(tmp_path), "--name", "mover", "--no-progress"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        asker.join(5)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = json.loads((tmp_path / "mover.json").read_text())["runs"]
    summary = run["summary"]
    assert summary["corrupt"] == 0 and summary["stale"] == 0
    assert summary["ops"] > 1000
    c = Conn(d.host, d.port)
    s = stats(c)
    assert int(s["slabs_moved"]) > 0 and int(s["slab_reassign_rescues"]) > 0, (
        {k: s[k] for k in MOVER_STATS + ["evictions"]})
    assert {r for r in replies} <= {b"OK\r\n", b"BUSY currently processing reassign request\r\n",
                                    b"BADCLASS invalid src or dst class id\r\n",
                                    b"NOSPARE source class has no spare pages\r\n",
                                    b"SAME src and dst class are identical\r\n"}
    print({k: s[k] for k in MOVER_STATS + ["evictions", "get_hits"]})
    d.call(lambda: d.daemon.cache.store.check_invariants(d.daemon.slabs.mover))
