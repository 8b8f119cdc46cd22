"""Raw sockets against a daemon on an ephemeral port: split replies, pipelining, pins, limits."""

import time

import pytest

from .helpers import Conn, stats

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(server):
    c = Conn(*server)
    yield c
    c.close()


def test_telnet_session_with_bare_newlines(conn):
    assert conn.cmd(b"set foo 0 0 3\nbar\r\n") == b"STORED\r\n"
    assert conn.cmd(b"get foo\n", b"END\r\n") == b"VALUE foo 0 3\r\nbar\r\nEND\r\n"


def test_fragmented_request_byte_by_byte(conn):
    for b in b"set frag 5 0 4\r\nabcd\r\n":
        conn.send(bytes([b]))
    assert conn.read_until(b"\r\n") == b"STORED\r\n"
    assert conn.cmd(b"get frag\r\n", b"END\r\n") == b"VALUE frag 5 4\r\nabcd\r\nEND\r\n"


def test_pipelined_batch_replies_in_order(conn):
    batch = b"".join(b"set p%d 0 0 1\r\n%d\r\n" % (i, i % 10) for i in range(200))
    batch += b"get " + b" ".join(b"p%d" % i for i in range(200)) + b"\r\n"
    conn.send(batch)
    for _ in range(200):
        assert conn.read_until(b"\r\n") == b"STORED\r\n"
    reply = conn.read_until(b"END\r\n")
    assert reply.count(b"VALUE") == 200


def test_bad_data_chunk_then_error(conn):
    assert conn.cmd(b"set foo 0 0 1\r\nabc\r\n", b"ERROR\r\n") == (
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\n")


def test_too_large_swallows_and_deletes_old(conn):
    conn.cmd(b"set big 0 0 1\r\nx\r\n")
    n = 2 * 1024 * 1024
    conn.send(b"set big 0 0 %d\r\n" % n + b"z" * n + b"\r\nget big\r\n")
    assert conn.read_until(b"END\r\n") == b"SERVER_ERROR object too large for cache\r\nEND\r\n"


def test_quit_closes_and_skips_the_rest(conn):
    conn.send(b"quit\r\nversion\r\n")
    assert conn.is_closed()


def test_long_line_without_newline_closes(conn):
    conn.send(b"set " + b"x" * 3000)
    assert conn.is_closed()


def test_http_probe_closes(conn):
    conn.send(b"GET / HTTP/1.0\r\n")
    assert conn.is_closed()


def test_binary_protocol_magic_closes(conn):
    conn.send(b"\x80\x00\x00\x00" + b"\x00" * 20)
    assert conn.is_closed()


def test_slow_reader_keeps_its_values_intact(make_daemon):
    """A reader that stops reading holds copies of what is queued for it (not pins); overwrites
    never corrupt it."""
    d = make_daemon(memory_limit=8 * 1024 * 1024)
    writer = Conn(d.host, d.port)
    value = b"A" * 100_000
    writer.cmd(b"set hot 0 0 %d\r\n%s\r\n" % (len(value), value))
    reader = Conn(d.host, d.port)
    reader.send(b"get hot\r\n" * 200)           # ~20 MB of replies it does not read yet
    time.sleep(0.5)
    # the daemon stopped producing for this reader: its queue is bounded, and what is queued
    # was copied out of the arena when writing paused, so nothing stays pinned
    queued = d.call(lambda: [(len(s.protocol.out), len(s.pins), s.protocol.copied)
                             for s in d.daemon.connections])
    assert max(q[0] for q in queued) < 200
    assert [q[1] for q in queued] == [0, 0]
    assert 0 < max(q[2] for q in queued) <= 2 * (len(value) + 2)
    for i in range(50):                          # churn the same key and its class
        v = bytes([66 + i % 20]) * 100_000
        writer.cmd(b"set hot 0 0 %d\r\n%s\r\n" % (len(v), v))
    got = 0
    while got < 200:
        header = reader.read_until(b"\r\n", timeout=20)
        assert header == b"VALUE hot 0 100000\r\n"
        body = reader.read_exact(100_002, timeout=20)
        assert len(set(body[:-2])) == 1, "a value mixed bytes of two writes"
        assert reader.read_until(b"\r\n") == b"END\r\n"
        got += 1
    s = stats(writer)
    assert int(s["curr_items"]) == 1


def test_connection_limit(make_daemon):
    d = make_daemon(max_connections=2)
    a, b = Conn(d.host, d.port), Conn(d.host, d.port)
    assert a.cmd(b"version\r\n").startswith(b"VERSION")
    c = Conn(d.host, d.port)
    assert c.read_until(b"\r\n") == b"ERROR Too many open connections\r\n"
    assert c.is_closed()
    assert int(stats(b)["rejected_connections"]) == 1


def test_out_of_memory_with_dash_M(make_daemon):
    d = make_daemon(memory_limit=2 * 1024 * 1024, evictions=False)
    c = Conn(d.host, d.port)
    value = b"v" * 60_000
    replies = [c.cmd(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)) for i in range(60)]
    assert b"SERVER_ERROR out of memory storing object\r\n" in replies
    s = stats(c)
    assert int(s["store_no_memory"]) == replies.count(b"SERVER_ERROR out of memory storing object\r\n")
    assert int(s["evictions"]) == 0


def test_evictions_under_pressure(make_daemon):
    d = make_daemon(memory_limit=2 * 1024 * 1024)
    c = Conn(d.host, d.port)
    value = b"v" * 60_000
    for i in range(100):
        assert c.cmd(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)) == b"STORED\r\n"
    s = stats(c)
    assert int(s["evictions"]) > 0
    assert c.cmd(b"get k0\r\n", b"END\r\n") == b"END\r\n"
    assert c.cmd(b"get k99\r\n", b"END\r\n").startswith(b"VALUE k99")
    d.call(d.daemon.cache.store.check_invariants)


def test_expiry_with_a_fake_clock(make_daemon):
    from memcache_py.clock import FakeClock
    clock = FakeClock()
    d = make_daemon(clock=clock)
    c = Conn(d.host, d.port)
    c.cmd(b"set e 0 10 1\r\nx\r\n")
    assert c.cmd(b"get e\r\n", b"END\r\n").startswith(b"VALUE")
    clock.advance(10)
    assert c.cmd(b"get e\r\n", b"END\r\n") == b"END\r\n"
    assert stats(c)["get_expired"] == "1"


def test_idle_timeout_kicks(make_daemon):
    d = make_daemon(idle_timeout=1)
    c = Conn(d.host, d.port)
    assert c.is_closed(timeout=4)
    assert stats(Conn(d.host, d.port))["idle_kicks"] == "1"
