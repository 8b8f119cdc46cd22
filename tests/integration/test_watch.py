"""`watch` against a live daemon: OK first, memcached's lines, no more commands, the bound."""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.conftest import wait_until
from tests.integration.helpers import Conn, stats

pytestmark = pytest.mark.integration

PREFIX = rb"ts=\d+\.\d{1,6} gid=\d+ "


def read_lines(s: socket.socket, want: int, timeout: float = 5.0) -> list[bytes]:
    buf = b""
    deadline = time.monotonic() + timeout
    s.settimeout(0.2)
    while buf.count(b"\n") < want and time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        buf += data
    return buf.splitlines()


def test_watch_fetchers_and_mutations(daemon):
    w = Conn(daemon.host, daemon.port)
    assert w.cmd(b"watch fetchers mutations\r\n") == b"OK\r\n"
    c = Conn(daemon.host, daemon.port)
    assert c.cmd(b"set foo 5 0 3\r\nbar\r\n") == b"STORED\r\n"
    assert c.cmd(b"get foo nope\r\n", b"END\r\n").endswith(b"END\r\n")
    assert c.cmd(b"add foo 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"
    assert c.cmd(b"set k\xc3y 0 100 1\r\nx\r\n") == b"STORED\r\n"
    fd = r"\d+"
    expected = [
        rb"type=item_get key=foo status=not_found clsid=0 cfd=(\d+) size=0",   # set's lookup
        rb"type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=\1 size=3",
        rb"type=item_get key=foo status=found clsid=1 cfd=\1 size=3",
        rb"type=item_get key=nope status=not_found clsid=0 cfd=\1 size=0",
        rb"type=item_get key=foo status=found clsid=1 cfd=\1 size=3",
        rb"type=item_store key=foo status=not_stored cmd=add ttl=0 clsid=1 cfd=\1 size=1",
        rb"type=item_get key=k%C3y status=not_found clsid=0 cfd=\1 size=0",
        rb"type=item_store key=k%C3y status=stored cmd=set ttl=(99|100) clsid=1 cfd=\1 size=1",
    ]
    lines = read_lines(w.sock, len(expected))
    assert len(lines) == len(expected), lines
    gids = [int(re.match(rb"ts=\S+ gid=(\d+)", line).group(1)) for line in lines]
    assert gids == list(range(gids[0], gids[0] + len(lines)))
    text = b"\n".join(lines)
    assert re.fullmatch(b"\n".join(PREFIX + e for e in expected), text), text
    del fd


def test_a_watcher_runs_no_more_commands(daemon):
    w = Conn(daemon.host, daemon.port)
    w.send(b"watch\r\nget a\r\nversion\r\n")
    assert read_lines(w.sock, 2, timeout=1.0) == [b"OK"]
    w.send(b"stats\r\n")
    assert read_lines(w.sock, 1, timeout=0.5) == []


def test_watch_errors(make_daemon):
    d = make_daemon()
    c = Conn(d.host, d.port)
    assert c.cmd(b"watch foo\r\n") == b"ERROR\r\n"
    c.send(b"watch noreply\r\n")
    assert c.cmd(b"version\r\n").startswith(b"VERSION")    # not watching, no reply
    d2 = make_daemon(watch_enabled=False)
    c2 = Conn(d2.host, d2.port)
    assert c2.cmd(b"watch\r\n") == b"CLIENT_ERROR watch commands not allowed\r\n"


def test_watch_evictions_and_connevents(make_daemon):
    d = make_daemon(memory_limit=2 << 20)
    w = Conn(d.host, d.port)
    assert w.cmd(b"watch evictions connevents\r\n") == b"OK\r\n"
    c = Conn(d.host, d.port)
    value = b"v" * 100_000
    for i in range(25):                 # 20 fit in 2 MB (see test_replay_engine), 5 evicted
        assert c.cmd(b"set k%02d 0 0 %d\r\n%s\r\n" % (i, len(value), value)) == b"STORED\r\n"
    c.close()
    lines = read_lines(w.sock, 7)
    assert re.fullmatch(PREFIX + rb"type=conn_new rip=127\.0\.0\.1 rport=\d+ transport=tcp "
                        rb"cfd=\d+", lines[0]), lines[0]
    evictions = [line for line in lines if b"type=eviction" in line]
    assert len(evictions) >= 1
    assert re.fullmatch(PREFIX + rb"type=eviction key=k00 fetch=no ttl=-1 la=\d+ clsid=\d+ "
                        rb"size=100000", evictions[0]), evictions[0]
    assert re.fullmatch(PREFIX + rb"type=conn_close rip=127\.0\.0\.1 rport=\d+ transport=tcp "
                        rb"reason=normal cfd=\d+", lines[-1]), lines[-1]


def test_a_slow_watcher_is_bounded_and_told_what_it_missed(make_daemon):
    limit = 16 * 1024
    d = make_daemon(watcher_logbuf_size=limit)
    w = socket.socket()
    w.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)     # and it does not read
    w.connect((d.host, d.port))
    w.sendall(b"watch fetchers\r\n")
    assert wait_until(lambda: len(d.daemon.watchers) == 1)
    c = Conn(d.host, d.port)
    batch = b"get some_key_that_is_not_there\r\n" * 500
    for _ in range(60):                 # 30000 item_get lines, about 3 MB of log
        c.send(batch)
        assert c.read_exact(500 * len(b"END\r\n")) == b"END\r\n" * 500
    assert c.cmd(b"version\r\n").startswith(b"VERSION")
    watcher = d.daemon.watchers[0]
    queued = d.call(lambda: len(watcher.pending) + watcher.transport.get_write_buffer_size())
    assert queued <= limit              # memory bounded by watcher_logbuf_size
    assert watcher.skipped > 0
    st = stats(c)
    assert st["log_watchers"] == "1" and int(st["log_watcher_skipped"]) >= watcher.skipped
    assert int(st["log_watcher_sent"]) > 0 and int(st["log_worker_written"]) >= 30_000
    # Now it reads: what it gets is whole lines, and a skipped=N line once a line fits again
    got = read_lines(w, 10**6, timeout=1.0)
    c.cmd(b"get after\r\n", b"END\r\n")
    got += read_lines(w, 10**6, timeout=1.0)
    assert got[0] == b"OK"
    skipped = [line for line in got if line.startswith(b"skipped=")]
    assert skipped and int(skipped[0].split(b"=")[1]) > 0
    assert all(line.startswith(b"ts=") or line.startswith(b"skipped=") for line in got[1:])


def test_a_watcher_is_not_kicked_as_idle(make_daemon):
    from memcache_py.clock import FakeClock
    clock = FakeClock()
    d = make_daemon(clock=clock, idle_timeout=2)
    w = Conn(d.host, d.port)
    assert w.cmd(b"watch\r\n") == b"OK\r\n"
    idle = Conn(d.host, d.port)
    assert idle.cmd(b"version\r\n").startswith(b"VERSION")
    d.call(clock.advance, 10)
    assert wait_until(lambda: idle.is_closed(timeout=0.2), timeout=5)   # the timer ran
    c = Conn(d.host, d.port)
    c.cmd(b"get k\r\n", b"END\r\n")
    lines = read_lines(w.sock, 1)
    assert len(lines) == 1 and b"type=item_get key=k status=not_found" in lines[0]
    assert d.daemon.stats.idle_kicks == 1
