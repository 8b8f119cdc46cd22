"""Hostile clients (issue #5): garbage, never reading, never finishing, thousands of connections.

Where memory is the point the daemon runs as a subprocess (`python -m memcache_py`) and its RSS
is read from /proc/<pid>/status; where starvation is the point a second connection's latency is
measured. Bugs found here are xfail(strict=True) with the reason; the figures (RSS growth under a
slow reader, RSS per idle connection) are recorded with `record_property` and printed (-s).
The same scenarios against memcached live in tests/differential/test_hardening.py.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_port, wait_until

from .helpers import Conn, stats

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# A daemon in its own process, so its RSS is its own
# ---------------------------------------------------------------------------------------------
class DaemonProcess:
    def __init__(self, *args: str):
        self.args = args
        self.host = "127.0.0.1"

    def start(self) -> DaemonProcess:
        self.port = free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memcache_py", "-p", str(self.port), "-l", self.host,
             "-U", "0", *self.args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log)
        wait_port(self.host, self.port)
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def conn(self, timeout: float = 5.0) -> Conn:
        return Conn(self.host, self.port, timeout)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def spawn():
    started: list[DaemonProcess] = []

    def start(*args: str) -> DaemonProcess:
        d = DaemonProcess(*args).start()
        started.append(d)
        return d
    yield start
    for d in started:
        d.stop()


def settle_rss(d: DaemonProcess, seconds: float = 0.3) -> int:
    time.sleep(seconds)
    return d.rss_kb()


def peak_rss(d: DaemonProcess, seconds: float, every: float = 0.05) -> int:
    peak = d.rss_kb()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(every)
        peak = max(peak, d.rss_kb())
    return peak


def latency(c: Conn) -> float:
    t0 = time.perf_counter()
    assert c.cmd(b"mn\r\n") == b"MN\r\n"
    return time.perf_counter() - t0


def raw_socket(d, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect((d.host, d.port))
    return s


def closed_within(s: socket.socket, seconds: float) -> bool:
    """True once the peer closed (EOF or reset) within `seconds`; data read is discarded."""
    s.settimeout(0.05)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if s.recv(1 << 16) == b"":
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def report(record_property, name: str, value) -> None:
    record_property(name, value)
    print(f"\n[issue #5 figure] {name} = {value}")


# =============================================================================================
# 1. A bug in our code: SERVER_ERROR, close, traceback logged, neighbours unaffected
# =============================================================================================
@pytest.fixture
def buggy(make_daemon, caplog, monkeypatch):
    caplog.set_level(logging.ERROR)
    d = make_daemon()
    return d, caplog, monkeypatch


def test_handler_bug_gets_server_error_close_and_traceback(buggy):
    import memcache_py.commands as commands
    from memcache_py.requests import Version
    d, caplog, monkeypatch = buggy

    def broken(session, req, out):
        raise RuntimeError("injected handler bug")
    monkeypatch.setitem(commands.HANDLERS, Version, broken)
    neighbour = Conn(d.host, d.port)
    c = Conn(d.host, d.port)
    c.send(b"mn\r\nversion\r\nmn\r\n")
    assert c.read_until(b"MN\r\n") == b"MN\r\n"
    assert c.read_until(b"\r\n").startswith(b"SERVER_ERROR ")
    assert c.is_closed(), "the connection that hit the bug must be closed"
    assert c.buf == b"", "nothing may run after the failing request"
    assert neighbour.cmd(b"mn\r\n") == b"MN\r\n"
    bug = [r for r in caplog.records if r.exc_info and "injected handler bug" in str(r.exc_info[1])]
    assert bug, "the bug must be logged with its traceback"
    monkeypatch.undo()
    assert Conn(d.host, d.port).cmd(b"version\r\n").startswith(b"VERSION ")


def test_handler_bug_after_partial_reply_sends_no_half_reply(buggy):
    import memcache_py.commands as commands
    from memcache_py.requests import Version
    d, caplog, monkeypatch = buggy

    def half(session, req, out):
        out.append(b"VALUE k 0 5\r\n")
        raise RuntimeError("injected after a partial reply")
    monkeypatch.setitem(commands.HANDLERS, Version, half)
    c = Conn(d.host, d.port)
    c.send(b"mn\r\nversion\r\n")
    time.sleep(0.3)
    data = c.buf
    c.sock.settimeout(0.5)
    try:
        while True:
            chunk = c.sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    assert data == b"MN\r\nSERVER_ERROR internal error\r\n", data


@pytest.mark.parametrize("split", [False, True], ids=["whole_read", "header_then_value"])
def test_completer_bug_gives_the_reserved_chunk_back(buggy, split):
    """A bug after the chunk was reserved: on the lone-request path (the whole set in one
    read) and on the parser's path (header and value in separate reads)."""
    d, caplog, monkeypatch = buggy

    def broken(*args):
        raise RuntimeError("injected completer bug")
    monkeypatch.setattr(d.daemon.cache, "complete_store", broken)
    c = Conn(d.host, d.port)
    if split:
        c.send(b"set leak 0 0 3\r\n")
        time.sleep(0.1)
        c.send(b"abc\r\n")
    else:
        c.send(b"set leak 0 0 3\r\nabc\r\n")
    assert c.read_until(b"\r\n").startswith(b"SERVER_ERROR ")
    assert c.is_closed()
    wait_until(lambda: not d.call(lambda: len(d.daemon.connections)), 2)
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}


def test_bug_while_receiving_gets_server_error(buggy):
    import memcache_py.connection as connection
    from memcache_py.parser import RequestParser
    d, caplog, monkeypatch = buggy

    class Broken(RequestParser):
        def receive_data(self, data):
            if b"BOOM" in data:
                raise RuntimeError("injected receive bug")
            super().receive_data(data)
    monkeypatch.setattr(connection, "RequestParser", Broken)
    c = Conn(d.host, d.port)
    assert c.cmd(b"mn\r\n") == b"MN\r\n"
    c.send(b"BOOM\r\n")
    assert c.read_until(b"\r\n", timeout=2).startswith(b"SERVER_ERROR ")


def test_binary_magic_first_byte_closes_without_a_word(make_daemon):
    d = make_daemon()
    for first in (b"\x80", b"\x80\x01\x00\x03" + b"\x00" * 20 + b"foo"):
        c = Conn(d.host, d.port)
        c.send(first)
        assert c.is_closed() and c.buf == b""
    later = Conn(d.host, d.port)            # 0x80 later in a connection is text
    assert later.cmd(b"mn\r\n\x80\r\n", b"ERROR\r\n") == b"MN\r\nERROR\r\n"
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}


# =============================================================================================
# 2. Memory stays bounded whatever a client does
# =============================================================================================
def test_partial_lines_under_2048_are_kept_and_over_2048_closed(spawn):
    d = spawn()
    rss0 = settle_rss(d)
    socks = [raw_socket(d) for _ in range(200)]
    try:
        for s in socks:
            s.sendall(b"set " + b"p" * 2040)            # 2044 bytes, no newline: kept
        rss1 = settle_rss(d)
        assert rss1 - rss0 < 8 * 1024, f"200 partial lines cost {rss1 - rss0} kB"
        for s in socks:
            s.sendall(b"pppppppp")                     # past 2048: memcached closes
        assert all(closed_within(s, 3) for s in socks)
    finally:
        for s in socks:
            s.close()
    assert d.conn().cmd(b"mn\r\n") == b"MN\r\n"


def test_get_line_past_get_line_max_closes_and_memory_is_given_back(spawn):
    from memcache_py.parser import GET_LINE_MAX
    d = spawn()
    rss0 = settle_rss(d)
    s = raw_socket(d)
    line = b"get " + b"k " * ((GET_LINE_MAX + MB) // 2)
    try:
        try:
            s.sendall(line)
        except OSError:
            pass                                        # closed while we were sending
        assert closed_within(s, 5)
    finally:
        s.close()
    growth = settle_rss(d, 0.5) - rss0
    assert growth < 3 * GET_LINE_MAX // 1024, f"RSS grew {growth} kB"


def test_partial_get_lines_have_a_daemon_wide_budget(spawn):
    from memcache_py.parser import GET_LINE_MAX
    d = spawn()
    rss0 = settle_rss(d)
    socks = []
    piece = b"get " + b"k " * ((GET_LINE_MAX - 64 * 1024) // 2)     # just under the cap
    try:
        for _ in range(24):                             # 24 x ~4 MB = ~96 MB of partial lines
            s = raw_socket(d)
            socks.append(s)
            try:
                s.sendall(piece)
            except OSError:
                pass
        growth = settle_rss(d, 1.0) - rss0
        assert growth < 48 * 1024, f"24 partial get lines grew RSS by {growth // 1024} MB"
    finally:
        for s in socks:
            s.close()


def test_huge_multiget_to_a_non_reader_stays_bounded(spawn):
    d = spawn()
    w = d.conn()
    value = b"v" * 2000
    w.send(b"".join(b"set hm%d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value)
                    for i in range(500)))
    assert w.cmd(b"mn\r\n") == b"MN\r\n"
    rss0 = settle_rss(d)
    reader = raw_socket(d, rcvbuf=4096)
    try:
        reader.sendall(b"get " + b" ".join(b"hm%d" % (i % 500) for i in range(100_000)) + b"\r\n")
        growth = peak_rss(d, 1.5) - rss0
        assert latency(w) < 0.5
        assert growth < 48 * 1024, f"a 100k-key get to a non-reader grew RSS {growth // 1024} MB"
    finally:
        reader.close()


def test_huge_multiget_does_not_starve_other_connections(spawn, record_property):
    """The largest legal multi-get (a ~4 MB line) keeps a neighbour's latency under a second."""
    from memcache_py.parser import GET_LINE_MAX
    d = spawn()
    w = d.conn()
    w.cmd(b"set hs1 0 0 10\r\n0123456789\r\n")
    lats: list[float] = []
    stop = threading.Event()

    def probe():
        n = d.conn()
        try:
            while not stop.is_set():
                lats.append(latency(n))
                time.sleep(0.005)
        finally:
            n.close()
    t = threading.Thread(target=probe)
    t.start()
    try:
        line = b"get " + b" ".join(b"hs%d" % (i % 1000) for i in range(GET_LINE_MAX // 6))
        line = line[:line.rindex(b" ", 0, GET_LINE_MAX - 16)] + b"\r\n"     # legal: < 4 MB
        g = d.conn(timeout=20)
        g.send(line)
        reply = g.read_until(b"END\r\n", timeout=20)
        assert reply.count(b"VALUE hs1 ") == line.count(b" hs1 ") + line.endswith(b" hs1\r\n")
    finally:
        stop.set()
        t.join(10)
    report(record_property, "neighbour_max_latency_s_during_4MB_multiget", round(max(lats), 3))
    assert max(lats) < 1.0


def test_huge_declared_length_is_swallowed_with_flat_memory(spawn):
    d = spawn()
    neighbour = d.conn()
    s = raw_socket(d)
    try:
        s.sendall(b"set huge 0 0 2000000000\r\n")
        rss0 = settle_rss(d)
        blob = b"z" * (1 << 16)
        for _ in range(480):                            # 30 MB of a 2 GB block
            s.sendall(blob)
        growth = peak_rss(d, 0.5) - rss0
        assert growth < 4 * 1024, f"swallowing grew RSS by {growth} kB"
        assert not closed_within(s, 0.2), "the connection must keep swallowing"
        assert latency(neighbour) < 0.2
    finally:
        s.close()


def test_slow_readers_memory_is_bounded(spawn, record_property):
    """4 clients pipeline 2000 gets of 500 KB values (4 GB of replies) and never read."""
    d = spawn()
    w = d.conn()
    value = b"x" * 500_000
    for i in range(10):
        assert w.cmd(b"set sr%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)) == b"STORED\r\n"
    rss0 = settle_rss(d)
    readers = [raw_socket(d, rcvbuf=4096) for _ in range(4)]
    try:
        for r in readers:
            r.sendall(b"".join(b"get sr%d\r\n" % (i % 10) for i in range(2000)))
        growth = peak_rss(d, 1.5) - rss0
        lat = latency(w)
        assert w.cmd(b"get sr1\r\n", b"END\r\n").count(b"x") == len(value)
    finally:
        for r in readers:
            r.close()
    report(record_property, "rss_growth_kB_4_slow_readers", growth)
    report(record_property, "neighbour_latency_s_with_slow_readers", round(lat, 4))
    assert growth < 16 * 1024, f"4 slow readers grew RSS by {growth} kB"
    assert lat < 0.2


def test_thousands_of_idle_connections(spawn, record_property):
    n = 2000
    d = spawn("-c", "4096")
    w = d.conn()
    rss0 = settle_rss(d)
    socks = []
    try:
        for i in range(n):
            socks.append(raw_socket(d))
        for s in socks[::50]:
            s.sendall(b"mn\r\n")
            assert s.recv(16) == b"MN\r\n"
        rss1 = settle_rss(d, 0.5)
        assert int(stats(w)["curr_connections"]) >= n
        lat = latency(w)
    finally:
        for s in socks:
            s.close()
    per_conn = (rss1 - rss0) * 1024 // n
    report(record_property, "rss_bytes_per_idle_connection", per_conn)
    assert per_conn < 16 * 1024
    assert lat < 0.2


def test_one_byte_at_a_time_client(spawn):
    """A client sending one byte at a time (every 0.2 s here): no CPU, no memory, no harm."""
    d = spawn()
    w = d.conn()
    w.cmd(b"set obs 0 0 2\r\nok\r\n")
    s = raw_socket(d)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rss0, cpu0 = settle_rss(d), d.cpu_seconds()
    try:
        for b in b"get obs\r":
            s.sendall(bytes([b]))
            assert latency(w) < 0.2
            time.sleep(0.2)
        assert d.rss_kb() - rss0 < 1024
        assert d.cpu_seconds() - cpu0 < 0.5
        s.sendall(b"\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(100)
            assert chunk, "closed"
            buf += chunk
        assert buf == b"VALUE obs 0 2\r\nok\r\nEND\r\n"
    finally:
        s.close()


# =============================================================================================
# 3. Stalled writers and the 5-candidate rule (-m 2: class 32 holds 20 chunks of 103496 bytes)
# =============================================================================================
V100K = b"x" * 100_000


def _fill(c: Conn, n: int = 20, prefix: bytes = b"k") -> None:
    for i in range(n):
        assert c.cmd(b"set %s%d 0 0 %d\r\n%s\r\n" % (prefix, i, len(V100K), V100K)) \
            == b"STORED\r\n"


def _stalled(d, n: int) -> list[socket.socket]:
    out = []
    for i in range(n):
        s = raw_socket(d)
        s.sendall(b"set st%d 0 0 100000\r\n" % i + b"y" * 5000)
        out.append(s)
    time.sleep(0.3)
    return out


def test_stalled_writer_holds_only_its_chunk_and_gives_it_back(make_daemon):
    d = make_daemon(memory_limit=2 * MB)
    c = Conn(d.host, d.port)
    s = raw_socket(d)
    try:
        s.sendall(b"set half 0 0 600000\r\n" + b"h" * 300_000)   # a chunked item, half sent
        time.sleep(0.3)
        refs = d.call(lambda: dict(d.daemon.cache.store.refs))
        assert len(refs) == 1, refs
        assert d.call(lambda: [s.parser.buffered for s in d.daemon.connections]) == [0, 0], \
            "the value goes into the chunk, not into a buffer"
        d.call(d.daemon.cache.store.check_invariants)
    finally:
        s.close()
    wait_until(lambda: not d.call(lambda: dict(d.daemon.cache.store.refs)), 3)
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}
    d.call(d.daemon.cache.store.check_invariants)
    assert c.cmd(b"get half\r\n", b"END\r\n") == b"END\r\n"


def test_stalled_writers_never_refuse_other_writers_below_class_capacity(make_daemon):
    d = make_daemon(memory_limit=2 * MB)
    c = Conn(d.host, d.port)
    _fill(c)
    writers = _stalled(d, 7)                   # more than 5: they are not in the LRU
    try:
        for j in range(3):
            assert c.cmd(b"set n%d 0 0 %d\r\n%s\r\n" % (j, len(V100K), V100K)) == b"STORED\r\n"
        s = stats(c, b"slabs")
        assert (s["32:used_chunks"], s["32:free_chunks"]) == ("20", "0")
    finally:
        for w in writers:
            w.close()
    wait_until(lambda: stats(c, b"slabs")["32:free_chunks"] == "7", 3, 0.05)
    assert stats(c, b"slabs")["32:free_chunks"] == "7", "their chunks must come back"


def test_stalled_writers_filling_the_class_refuse_then_recover(make_daemon):
    d = make_daemon(memory_limit=2 * MB)
    c = Conn(d.host, d.port)
    _fill(c)
    writers = _stalled(d, 20)
    try:
        assert c.cmd(b"set n0 0 0 %d\r\n%s\r\n" % (len(V100K), V100K)) == \
            b"SERVER_ERROR out of memory storing object\r\n"
    finally:
        for w in writers:
            w.close()
    wait_until(lambda: stats(c, b"slabs")["32:free_chunks"] == "20", 3, 0.05)
    assert c.cmd(b"set n1 0 0 %d\r\n%s\r\n" % (len(V100K), V100K)) == b"STORED\r\n"
    d.call(d.daemon.cache.store.check_invariants)


def _slow_readers(d, n: int) -> list[socket.socket]:
    out = []
    for i in range(n):
        r = raw_socket(d, rcvbuf=4096)
        r.sendall(b"get k%d\r\n" % i * 60)
        out.append(r)
    time.sleep(0.5)
    return out


def test_four_slow_readers_at_the_tail_never_refuse_a_writer(make_daemon):
    d = make_daemon(memory_limit=2 * MB)
    c = Conn(d.host, d.port)
    _fill(c)
    readers = _slow_readers(d, 4)
    try:
        assert c.cmd(b"set n0 0 0 %d\r\n%s\r\n" % (len(V100K), V100K)) == b"STORED\r\n"
    finally:
        for r in readers:
            r.close()


def test_five_slow_readers_at_the_tail_then_recovery(make_daemon):
    """5 slow readers of the 5 tail items: their queued values are copied out when writing
    pauses, so a new store still evicts (as memcached does; see the differential case); the
    readers' values arrive intact and nothing stays pinned once they leave."""
    d = make_daemon(memory_limit=2 * MB)
    c = Conn(d.host, d.port)
    _fill(c)
    readers = _slow_readers(d, 5)
    try:
        assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}
        assert c.cmd(b"set n0 0 0 %d\r\n%s\r\n" % (len(V100K), V100K)) == b"STORED\r\n"
        head = b""
        readers[0].settimeout(5)
        while len(head) < 100_030:
            chunk = readers[0].recv(1 << 16)
            assert chunk
            head += chunk
        assert head.startswith(b"VALUE k0 0 100000\r\n" + b"x" * 100_000 + b"\r\n")
    finally:
        for r in readers:
            r.close()
    deadline = time.monotonic() + 3
    reply = b""
    while time.monotonic() < deadline:
        reply = c.cmd(b"set n1 0 0 %d\r\n%s\r\n" % (len(V100K), V100K))
        if reply == b"STORED\r\n":
            break
        time.sleep(0.05)
    assert reply == b"STORED\r\n"
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}


# =============================================================================================
# 4. -c, -o idle_timeout, the multi-get cap
# =============================================================================================
def test_connection_flood_past_dash_c_is_refused_then_recovers(spawn):
    d = spawn("-c", "50")
    socks, refused = [], 0
    try:
        for _ in range(150):
            s = raw_socket(d)
            socks.append(s)
        for s in socks:
            s.sendall(b"mn\r\n")
        for s in socks:
            s.settimeout(2)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(100)
                if not chunk:
                    break
                data += chunk
            if data == b"ERROR Too many open connections\r\n":
                refused += 1
                assert closed_within(s, 2)
            else:
                assert data == b"MN\r\n", data
    finally:
        for s in socks:
            s.close()
    assert refused == 100
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        c = d.conn()
        if c.cmd(b"mn\r\n") == b"MN\r\n":
            break
        c.close()
        time.sleep(0.05)
    assert int(stats(c)["rejected_connections"]) == 100


def test_idle_timeout_kicks_a_thousand_idle_connections_not_an_active_one(spawn):
    n = 1000
    d = spawn("-c", "2048", "-o", "idle_timeout=1")
    active = d.conn()
    socks = [raw_socket(d) for _ in range(n)]
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    alive = set(socks)
    try:
        deadline = time.monotonic() + 6
        while alive and time.monotonic() < deadline:
            assert active.cmd(b"mn\r\n") == b"MN\r\n", "an active connection was kicked"
            for key, _ in sel.select(timeout=0.2):
                try:
                    data = key.fileobj.recv(64)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                assert data == b"", f"an idle connection was sent {data!r}"
                sel.unregister(key.fileobj)
                alive.discard(key.fileobj)
        assert not alive, f"{len(alive)} idle connections were not kicked"
        assert int(stats(active)["idle_kicks"]) == n
    finally:
        sel.close()
        for s in socks:
            s.close()


def test_idle_timeout_kicks_a_trickler(spawn):
    d = spawn("-o", "idle_timeout=1")
    s = raw_socket(d)
    try:
        for b in b"get trickle":
            s.sendall(bytes([b]))
            if closed_within(s, 0.4):
                return
        pytest.fail("a client that never finishes a line was not kicked in 4.4 s")
    finally:
        s.close()


def test_idle_timeout_spares_a_slow_reader(spawn):
    d = spawn("-o", "idle_timeout=1")
    value = b"Q" * 500_000
    d.conn().cmd(b"set isr 0 0 %d\r\n%s\r\n" % (len(value), value))
    r = raw_socket(d, rcvbuf=65536)
    expected = 30 * (len(b"VALUE isr 0 500000\r\n") + len(value) + 2 + len(b"END\r\n"))
    got = 0
    try:
        r.sendall(b"get isr\r\n" * 30)
        r.settimeout(0.05)
        deadline = time.monotonic() + 8
        while got < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            budget = 400_000
            while budget > 0:
                try:
                    chunk = r.recv(min(65536, budget))
                except (socket.timeout, TimeoutError):
                    break
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    pytest.fail(f"closed after {got} of {expected} bytes")
                got += len(chunk)
                budget -= len(chunk)
    finally:
        r.close()
    assert got == expected


def test_multiget_references_to_one_item_are_capped_like_memcached(make_daemon):
    d = make_daemon()
    c = Conn(d.host, d.port, timeout=20)
    c.cmd(b"set rc 0 0 1\r\nv\r\n")
    reply = c.cmd(b"get " + b"rc " * 60001 + b"\r\n", b"END\r\n")
    assert reply.count(b"VALUE rc ") == 59999
    s = stats(c)
    assert (s["get_hits"], s["get_misses"]) == ("59999", "2")


# =============================================================================================
# 5. No value is ever corrupted: pins under concurrent set/delete/flush of the same keys
# =============================================================================================
def test_values_never_mix_under_concurrent_set_delete_flush(make_daemon):
    """Readers stall while their replies (views of the arena) are queued; writers overwrite,
    delete and flush the same keys meanwhile, so without pins those chunks get reused. Every
    value carries its fill byte as its flags: a reply must be exactly flags-byte x size."""
    d = make_daemon(memory_limit=3 * MB)
    keys = [b"cz%d" % i for i in range(6)]
    stop = threading.Event()
    errors: list[str] = []
    sizes = (100, 3000, 90_000, 150_000, 600_000)   # inline copies, views, chunked items

    def writer(seed: int):
        c = Conn(d.host, d.port)
        i = seed * 1000
        try:
            while not stop.is_set():
                i += 1
                k = keys[i % len(keys)]
                size = sizes[i % len(sizes)]
                fill = 65 + i % 26
                c.send(b"set %s %d 0 %d noreply\r\n%s\r\n" % (k, fill, size,
                                                                 bytes([fill]) * size))
                if i % 7 == 0:
                    c.send(b"delete %s noreply\r\n" % k)
                if i % 53 == 0:
                    c.send(b"flush_all noreply\r\n")
                if i % 20 == 0:
                    assert c.cmd(b"mn\r\n") == b"MN\r\n"
        except Exception as exc:            # surfaced below
            errors.append(f"writer: {exc!r}")

    def reader():
        r = Conn(d.host, d.port, timeout=10)
        try:
            while not stop.is_set():
                # ~20 MB of replies: more than the kernel buffers, so the daemon has to keep
                # queued views of the arena (pinned) while we stall
                r.send(b"".join(b"get %s\r\n" % k for k in keys) * 20)
                time.sleep(0.25)
                for _ in range(len(keys) * 20):
                    while True:
                        line = r.read_until(b"\r\n", timeout=10)
                        if line == b"END\r\n":
                            break
                        _, key, flags, size = line.split()
                        body = r.read_exact(int(size) + 2, timeout=10)
                        if body != bytes([int(flags)]) * int(size) + b"\r\n":
                            errors.append(f"corrupt value of {key!r} (flags {int(flags)}, "
                                          f"{int(size)} bytes): {body[:12]!r}..")
        except Exception as exc:
            errors.append(f"reader: {exc!r}")

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(20)
    assert not errors, errors[:5]
    wait_until(lambda: not d.call(lambda: len(d.daemon.connections)), 3, 0.05)
    assert d.call(lambda: dict(d.daemon.cache.store.refs)) == {}
    d.call(d.daemon.cache.store.check_invariants)


# =============================================================================================
# 6. SIGTERM under load
# =============================================================================================
LOADGEN = r"""
import json, socket, sys, threading, time
port, nconn = int(sys.argv[1]), int(sys.argv[2])
results = []

def consume(buf):
    # drop the complete replies at the front (a VALUE counts with its block)
    i = 0
    while True:
        j = buf.find(b"\r\n", i)
        if j < 0:
            break
        line = buf[i:j]
        if line.startswith(b"VALUE "):
            end = j + 2 + int(line.split()[3]) + 2
            if end > len(buf):
                break
            i = end
        else:
            i = j + 2
    del buf[:i]

def conn():
    s = socket.create_connection(("127.0.0.1", port), 10)
    buf = bytearray()
    def send():
        try:
            for _ in range(100000):
                s.sendall(b"get big\r\n" * 10)
        except OSError:
            pass
    threading.Thread(target=send, daemon=True).start()
    try:
        while True:
            d = s.recv(1 << 16)
            time.sleep(0.002)           # a reader a bit slower than the daemon: at the stop
                                        # the kernel still holds reply bytes for it
            if not d:
                break
            buf += d
            if len(buf) > 1 << 20:
                consume(buf)
    except OSError:
        pass
    consume(buf)
    results.append(len(buf))        # bytes of a reply cut short by the close

threads = [threading.Thread(target=conn) for _ in range(nconn)]
for t in threads:
    t.start()
print("started", flush=True)
for t in threads:
    t.join(30)
print(json.dumps(results), flush=True)
"""


@pytest.fixture(scope="module")
def sigterm_run():
    """SIGTERM a daemon serving 6 pipelining readers of a 300 KB value (load generated by
    another process, so this one only watches): (exit status, seconds to exit, bytes of a
    partial reply left at the end of each reader's stream)."""
    import json
    d = DaemonProcess().start()
    load = None
    try:
        value = b"Q" * 300_000
        assert d.conn().cmd(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value)) == b"STORED\r\n"
        load = subprocess.Popen([sys.executable, "-c", LOADGEN, str(d.port), "6"],
                                stdout=subprocess.PIPE)
        assert load.stdout.readline().strip() == b"started"
        time.sleep(1.0)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        try:
            status = d.proc.wait(5)
        except subprocess.TimeoutExpired:
            status = None
        elapsed = time.monotonic() - t0
        out, _ = load.communicate(timeout=30)
        yield status, elapsed, json.loads(out.decode().strip().splitlines()[-1])
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(10)
        d.stop()


def test_sigterm_under_load_exits_0_within_a_second(sigterm_run):
    status, elapsed, _ = sigterm_run
    assert status == 0
    assert elapsed < 1.0, f"exit took {elapsed:.2f} s"


def test_sigterm_under_load_leaves_no_half_written_reply(sigterm_run):
    status, elapsed, leftovers = sigterm_run
    assert status == 0
    assert leftovers == [0] * len(leftovers), f"partial reply bytes per connection: {leftovers}"
