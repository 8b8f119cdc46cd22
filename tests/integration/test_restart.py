"""Warm restart against the real daemon (`-e`): SIGUSR1 and `shutdown graceful` save, the next
start serves the same items with the same flags and CAS; SIGTERM and kill -9 start cold."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.integration.helpers import Conn

pytestmark = pytest.mark.integration

N_ITEMS = 100_000


def start(tmp_path, *extra: str):
    portfile = tmp_path / "port"
    if portfile.exists():
        portfile.unlink()
    env = dict(os.environ, MEMCACHED_PORT_FILENAME=str(portfile))
    proc = subprocess.Popen([sys.executable, "-m", "memcache_py", "-p", "-1", "-l", "127.0.0.1",
                             "-U", "0", "-m", "64", "-e", str(tmp_path / "mem"), *extra],
                            env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not portfile.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "daemon did not start"
        time.sleep(0.05)
    port = int(portfile.read_text().split(": ")[1])
    return proc, Conn("127.0.0.1", port)


def stop(proc, sig=signal.SIGUSR1) -> str:
    proc.send_signal(sig)
    proc.wait(30)
    err = proc.stderr.read().decode()
    time.sleep(1.05)          # memcached's rule: a restart in the stop's second is refused
    return err


def gets(c: Conn, keys: list[bytes]) -> dict[bytes, tuple[int, int, bytes]]:
    out = {}
    data = c.cmd(b"gets " + b" ".join(keys) + b"\r\n", b"END\r\n")
    pos = 0
    while data.startswith(b"VALUE ", pos):
        eol = data.index(b"\r\n", pos)
        _, key, flags, n, cas = data[pos:eol].split()
        start = eol + 2
        out[key] = (int(flags), int(cas), data[start:start + int(n)])
        pos = start + int(n) + 2
    return out


def test_sigusr1_restart_serves_every_item_with_flags_and_cas(tmp_path):
    proc, c = start(tmp_path)
    try:
        batch = []
        for i in range(N_ITEMS):
            batch.append(b"set k%d %d 0 %d noreply\r\n%s\r\n" % (i, i % 65536, 5 + i % 50,
                                                                  b"v" * (5 + i % 50)))
            if len(batch) == 2000:
                c.send(b"".join(batch))
                batch = []
        c.send(b"".join(batch))
        assert c.cmd(b"mn\r\n") == b"MN\r\n"
        keys = [b"k%d" % i for i in range(N_ITEMS)]
        before = {}
        for i in range(0, N_ITEMS, 500):
            before.update(gets(c, keys[i:i + 500]))
        assert len(before) == N_ITEMS
        token = before[b"k7"][1]
        err = stop(proc)
        assert "Gracefully stopping" in err
        assert os.path.exists(tmp_path / "mem.meta")
        proc, c = start(tmp_path)
        assert not os.path.exists(tmp_path / "mem.meta")          # consumed at start
        after = {}
        for i in range(0, N_ITEMS, 500):
            after.update(gets(c, keys[i:i + 500]))
        assert after == before
        assert c.cmd(b"cas k7 1 0 2 %d\r\nok\r\n" % token) == b"STORED\r\n"
        assert c.cmd(b"cas k8 1 0 2 %d\r\nok\r\n" % token) == b"EXISTS\r\n"
        stats = dict(re.findall(rb"STAT (\S+) (\S+)", c.cmd(b"stats\r\n", b"END\r\n")))
        assert int(stats[b"curr_items"]) == N_ITEMS
        settings = c.cmd(b"stats settings\r\n", b"END\r\n")
        assert b"STAT memory_file %s\r\n" % str(tmp_path / "mem").encode() in settings
    finally:
        proc.kill()
        proc.wait()


def test_ttl_keeps_running_while_stopped(tmp_path):
    proc, c = start(tmp_path)
    try:
        assert c.cmd(b"set short 0 2 1\r\na\r\n") == b"STORED\r\n"
        assert c.cmd(b"set long 0 300 1\r\nb\r\n") == b"STORED\r\n"
        stop(proc)
        time.sleep(2)                                   # stopped for 3 s in all
        proc, c = start(tmp_path)
        assert c.cmd(b"get short long\r\n", b"END\r\n") == b"VALUE long 0 1\r\nb\r\nEND\r\n"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_sigterm_and_kill_start_cold(tmp_path, sig):
    proc, c = start(tmp_path)
    try:
        assert c.cmd(b"set a 0 0 1\r\na\r\n") == b"STORED\r\n"
        stop(proc, sig)
        assert not os.path.exists(tmp_path / "mem.meta")
        proc, c = start(tmp_path)
        assert c.cmd(b"get a\r\n", b"END\r\n") == b"END\r\n"
    finally:
        proc.kill()
        proc.wait()


def test_kill_after_a_warm_start_gives_a_cold_one(tmp_path):
    proc, c = start(tmp_path)
    try:
        assert c.cmd(b"set a 0 0 1\r\na\r\n") == b"STORED\r\n"
        stop(proc)
        proc, c = start(tmp_path)
        assert c.cmd(b"get a\r\n", b"END\r\n") == b"VALUE a 0 1\r\na\r\nEND\r\n"
        stop(proc, signal.SIGKILL)
        proc, c = start(tmp_path)
        assert c.cmd(b"get a\r\n", b"END\r\n") == b"END\r\n"
    finally:
        proc.kill()
        proc.wait()


def test_shutdown_graceful_saves_and_half_uploads_do_not_come_back(tmp_path):
    proc, c = start(tmp_path, "-A")
    try:
        assert c.cmd(b"shutdown bogus\r\n") == b"CLIENT_ERROR invalid shutdown mode\r\n"
        assert c.cmd(b"cache_memlimit 100\r\n") == \
            b"MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n"
        assert c.cmd(b"set kept 3 0 4\r\nkeep\r\n") == b"STORED\r\n"
        half = Conn("127.0.0.1", c.sock.getpeername()[1])
        half.send(b"set half 0 0 100\r\nonly-part")
        time.sleep(0.2)
        c.send(b"shutdown graceful\r\n")
        assert c.is_closed()
        err = stop(proc, 0)
        assert "Gracefully stopping" in err
        proc, c = start(tmp_path)
        assert c.cmd(b"get kept half\r\n", b"END\r\n") == b"VALUE kept 3 4\r\nkeep\r\nEND\r\n"
    finally:
        proc.kill()
        proc.wait()


def test_damaged_meta_logs_one_line_and_starts_cold(tmp_path):
    proc, c = start(tmp_path)
    try:
        assert c.cmd(b"set a 0 0 1\r\na\r\n") == b"STORED\r\n"
        stop(proc)
        (tmp_path / "mem.meta").write_bytes(b"")
        proc, c = start(tmp_path)
        assert c.cmd(b"get a\r\n", b"END\r\n") == b"END\r\n"
        err = stop(proc, signal.SIGTERM)
        lines = [ln for ln in err.splitlines() if ln.startswith("[restart]")]
        assert len(lines) == 1 and "empty metadata file" in lines[0]
        assert "Traceback" not in err
    finally:
        proc.kill()
        proc.wait()
