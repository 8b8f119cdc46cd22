"""Hardening corpus (issue #5): hostile clients, where memcached 1.6.18's behaviour is the reference.

Multi-connection scenarios are `script=` cases: the script does the same thing to each server
and returns a transcript (replies and the few counters that tell the story), which the harness
compares like any reply. Every case here gets its own fresh server pair.

`KNOWN_ISSUES` (case -> what is wrong in memcache_py) are run as xfail(strict=True): they flip
to a failure the day the daemon is fixed, so the entry can be removed. `INTENDED_DIFFERENCES`
are deliberate (xfail, not strict).
"""

from __future__ import annotations

import random
import socket
import time

from memcache_py.errors import ProtocolError
from memcache_py.parser import DATA_HEADERS, DATA, NEED_DATA, SWALLOW, RequestParser

from tests.unit.test_fuzz_parser import session, split_randomly

from .corpus_classic import st
from .harness import Case, Endpoint, Reply, case, connect

CASES: list[Case] = []


def add(c: Case) -> None:
    CASES.append(c)


KNOWN_ISSUES: dict[str, str] = {}

INTENDED_DIFFERENCES: dict[str, str] = {
    "line_get_over_get_line_max_partial": (
        "memcache_py closes a multi-get line that passes GET_LINE_MAX (4 MB) without a newline "
        "to bound memory; memcached keeps growing its read buffer"),
}

# =============================================================================================
# Multi-gets: memcached has no key cap, only the per-item reference cap
# =============================================================================================
def _until_mn(s: socket.socket, data: bytes, timeout: float = 20.0) -> bytes:
    """Send `data` + mn and read everything up to MN (memcached flushes at mn)."""
    return _cmd(s, data + b"mn\r\n", b"MN\r\n", timeout)


def _summary(reply: bytes) -> bytes:
    """A multi-get reply in a few lines: VALUE count per key, distinct CAS values, the rest."""
    counts: dict[bytes, int] = {}
    cas: set[bytes] = set()
    other = []
    i = 0
    while i < len(reply):
        j = reply.find(b"\r\n", i)
        if j < 0:
            other.append(b"<partial> " + reply[i:i + 40])
            break
        line = reply[i:j]
        i = j + 2
        if line.startswith(b"VALUE "):
            toks = line.split(b" ")
            counts[toks[1]] = counts.get(toks[1], 0) + 1
            if len(toks) == 5:
                cas.add(toks[4])
            i += int(toks[3]) + 2                  # the data block
        else:
            other.append(line)
    return b"".join(b"VALUE %s x %d\n" % kv for kv in sorted(counts.items())) + \
        b"distinct cas: %d\n" % len(cas) + b"\n".join(other) + b"\n"


def mget_script(setup: bytes, request: bytes, stat_names: tuple[bytes, ...] = ()):
    def script(ep: Endpoint, expect: Reply | None) -> Reply:
        s = connect(ep)
        try:
            out = _summary(_until_mn(s, setup)) + b"--\n" + _summary(_until_mn(s, request))
            if stat_names:
                out += b"\n".join(_stat_lines(s, b"", stat_names)) + b"\n"
        finally:
            s.close()
        return Reply(out, False)
    return script


add(Case(name="mget_refcount_cap_get", chunks=(), fresh=True,
         script=mget_script(st("rcg", "v"), b"get " + b"rcg " * 60001 + b"\r\n",
                            (b"get_hits", b"get_misses", b"cmd_get")),
         stats=["get_hits", "get_misses", "cmd_get"],
         doc="IT_REFCOUNT_LIMIT 60000: the 60000th and later references are misses"))
add(Case(name="mget_refcount_cap_gets", chunks=(), fresh=True,
         script=mget_script(st("rcs", "w"), b"gets " + b"rcs " * 60005 + b"\r\n")))
add(Case(name="mget_same_key_under_cap", chunks=(), fresh=True,
         script=mget_script(st("rcu", "u"), b"get " + b"rcu " * 30000 + b"\r\n",
                            (b"get_hits", b"get_misses")),
         stats=["get_hits", "get_misses"]))
add(Case(name="mget_pipelined_gets_each_under_cap", chunks=(), fresh=True,
         script=mget_script(st("rcp", "p"), b"get " + b"rcp " * 30000 + b"\r\nget "
                            + b"rcp " * 30001 + b"\r\n"),
         doc="the cap is per command: references are released between gets"))
add(Case(name="mget_distinct_hits_3000", chunks=(), fresh=True,
         script=mget_script(b"".join(st(f"rcd{i}", "w", extra="noreply") for i in range(3000)),
                            b"get " + b" ".join(b"rcd%d" % i for i in range(3000)) + b"\r\n")))
add(case("line_get_over_get_line_max_partial",
         "get " + "lgm " * (5 * 1024 * 1024 // 4), fresh=True,
         doc="a 5 MB multi-get line without a newline: memcached keeps reading"))

# =============================================================================================
# Huge declared lengths: swallowed, nothing buffered, nothing answered until the block is done
# =============================================================================================
add(case("huge_declared_length_trickled",
         "set hdl 0 0 2000000000\r\n", *["z" * (1 << 20)] * 8, "version\r\n", "get hdl\r\n",
         fresh=True))
add(case("huge_declared_length_max_then_short_block",
         "set hdm 0 0 2147483645\r\n", "abc\r\n", "version\r\n", fresh=True))

# =============================================================================================
# When memcached closes: the HTTP rule and the replies it drops
# =============================================================================================
add(case("http_close_one_char_command", "/ HTTP/1.0\r\nversion\r\n", fresh=True))
add(case("http_close_known_first_letter",
         "abc HTTP/1.0\r\n", "gx y HTTP/1.0\r\n", "tx HTTP/1.1\r\n", "dump HTTP/1.0\r\n",
         "version\r\n", fresh=True))
add(case("http_close_m_three_letters", "mxy HTTP/1.0\r\n", close=True, fresh=True))
add(case("http_close_other_letters", "xyz HTTP/1.0\r\n", close=True, fresh=True))
add(case("http_close_over_23_tokens",
         "foo " + " ".join(f"t{i}" for i in range(30)) + " HTTP/1.0\r\nversion\r\n", fresh=True))
add(case("http_close_23_tokens",
         "foo " + " ".join(f"t{i}" for i in range(21)) + " HTTP/1.0\r\n", close=True,
         fresh=True))
add(case("close_drops_unflushed_version",
         "version\r\nGET / HTTP/1.0\r\n", close=True, fresh=True))
add(case("close_drops_unflushed_store_long_line",
         "set cdu 0 0 1\r\nx\r\nversion\r\nset " + "x" * 3000, close=True, fresh=True))
add(case("close_keeps_flushed_get_reply",
         "get ckf\r\nGET / HTTP/1.0\r\n", close=True, fresh=True,
         doc="get (and mn) replies are flushed at once by memcached: they arrive"))
add(case("close_keeps_flushed_mn_reply",
         "mn\r\nGET / HTTP/1.0\r\n", close=True, fresh=True))


# =============================================================================================
# Stalled writers and slow readers in a full class (-m 2: 20 chunks of 103496 bytes)
# =============================================================================================
VALUE_100K = b"x" * 100000


def _cmd(s: socket.socket, data: bytes, until: bytes = b"\r\n", timeout: float = 5.0) -> bytes:
    s.setblocking(True)
    s.settimeout(timeout)
    s.sendall(data)
    buf = b""
    deadline = time.monotonic() + timeout
    while until not in buf and time.monotonic() < deadline:
        try:
            chunk = s.recv(1 << 20)
        except (socket.timeout, TimeoutError):
            break
        if not chunk:
            break
        buf += chunk
    return buf


def _stat_lines(s: socket.socket, sub: bytes, names: tuple[bytes, ...]) -> list[bytes]:
    raw = _cmd(s, b"stats " + sub + b"\r\n" if sub else b"stats\r\n", b"END\r\n")
    return [line for line in raw.split(b"\r\n")
            if any(line.startswith(b"STAT " + n + b" ") for n in names)]


def _fill_class(s: socket.socket, n: int = 20, prefix: bytes = b"k") -> list[bytes]:
    return [_cmd(s, b"set %s%d 0 0 %d\r\n%s\r\n" % (prefix, i, len(VALUE_100K), VALUE_100K))
            for i in range(n)]


def _present(s: socket.socket, keys: list[bytes]) -> bytes:
    raw = _cmd(s, b"get " + b" ".join(keys) + b"\r\n", b"END\r\n")
    return b" ".join(line.split(b" ")[1] for line in raw.split(b"\r\n")
                     if line.startswith(b"VALUE "))


def stalled_writers_script(stalled: int):
    def script(ep: Endpoint, expect: Reply | None) -> Reply:
        out = []
        c = connect(ep)
        writers = []
        try:
            out += _fill_class(c)
            for i in range(stalled):
                w = connect(ep)
                w.setblocking(True)
                w.sendall(b"set s%d 0 0 100000\r\n" % i + b"y" * 5000)
                writers.append(w)
            time.sleep(0.3)
            for j in range(3):
                out.append(_cmd(c, b"set n%d 0 0 %d\r\n%s\r\n" % (j, len(VALUE_100K),
                                                                  VALUE_100K)))
            out += _stat_lines(c, b"slabs", (b"32:used_chunks", b"32:free_chunks"))
            out += _stat_lines(c, b"", (b"curr_items", b"evictions"))
            for w in writers:
                w.close()
            writers = []
            time.sleep(0.5)
            out.append(b"-- stalled writers gone --")
            out += _stat_lines(c, b"slabs", (b"32:used_chunks", b"32:free_chunks"))
            out.append(_cmd(c, b"set z 0 0 %d\r\n%s\r\n" % (len(VALUE_100K), VALUE_100K)))
        finally:
            for w in writers:
                w.close()
            c.close()
        return Reply(b"\n".join(out) + b"\n", False)
    script.__name__ = f"stalled_writers_{stalled}"
    return script


for _n in (4, 7, 20):
    add(Case(name=f"stalled_writers_{_n}_in_full_class", chunks=(),
             script=stalled_writers_script(_n), flags=("-m", "2"),
             stats=["32:used_chunks", "32:free_chunks", "curr_items", "evictions"],
             doc="a reserved chunk is not in the LRU: stalled writers never block evictions, "
                 "they only shrink the class; when they go, their chunks come back"))


def slow_readers_script(readers: int):
    def script(ep: Endpoint, expect: Reply | None) -> Reply:
        out = []
        c = connect(ep)
        slow = []
        try:
            _fill_class(c)
            for i in range(readers):
                r = socket.socket()
                r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                r.connect(ep.addr)
                r.sendall(b"get k%d\r\n" % i * 60)      # 6 MB of replies, never read
                slow.append(r)
            time.sleep(0.5)
            out.append(_cmd(c, b"set n0 0 0 %d\r\n%s\r\n" % (len(VALUE_100K), VALUE_100K)))
            out += _stat_lines(c, b"items", (b"items:32:evicted", b"items:32:outofmemory"))
            for r in slow:
                r.close()
            slow = []
            time.sleep(0.5)
            out.append(b"-- slow readers gone --")
            out.append(_cmd(c, b"set n1 0 0 %d\r\n%s\r\n" % (len(VALUE_100K), VALUE_100K)))
            out.append(_present(c, [b"k%d" % i for i in range(20)] + [b"n0", b"n1"]))
        finally:
            for r in slow:
                r.close()
            c.close()
        return Reply(b"\n".join(out) + b"\n", False)
    return script


add(Case(name="slow_readers_do_not_pin_the_tail", chunks=(), script=slow_readers_script(5),
         flags=("-m", "2"), stats=["items:32:evicted", "items:32:outofmemory"],
         doc="5 clients pipeline gets of the 5 oldest items and never read; a new store in "
             "that class must still evict"))


# =============================================================================================
# -o idle_timeout: who counts as idle
# =============================================================================================
def _wait_closed(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the peer closed, or None if it stayed open."""
    s.setblocking(True)
    s.settimeout(0.05)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
    return None


def idle_plain_script(ep: Endpoint, expect: Reply | None) -> Reply:
    a = connect(ep)
    try:
        _cmd(a, b"version\r\n")
        closed = _wait_closed(a, 6.0)
    finally:
        a.close()
    b = connect(ep)
    try:
        kicks = _stat_lines(b, b"", (b"idle_kicks",))
    finally:
        b.close()
    return Reply(b"idle connection closed: %d\n" % (closed is not None) + b"\n".join(kicks),
                 False)


def idle_trickler_script(ep: Endpoint, expect: Reply | None) -> Reply:
    """One byte every 0.4 s of a command line that never ends, for up to 6 s (memcached's
    idle thread may take ~5 s to notice: a 1 s scan, up to 2 s of sleep, 1 s clock ticks)."""
    s = connect(ep)
    s.setblocking(True)
    closed = False
    try:
        for ch in b"get trickle_xyz":
            try:
                s.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            if _wait_closed(s, 0.4) is not None:
                closed = True
                break
    finally:
        s.close()
    return Reply(b"trickler kicked: %d\n" % closed, False)


def idle_slow_reader_script(ep: Endpoint, expect: Reply | None) -> Reply:
    """30 x a 500 KB value read at about 4 MB/s (~3.7 s): all of it must arrive."""
    c = connect(ep)
    value = b"Q" * 500000
    _cmd(c, b"set isr 0 0 %d\r\n%s\r\n" % (len(value), value))
    c.close()
    r = socket.socket()
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    r.connect(ep.addr)
    r.settimeout(0.05)
    expected = 30 * (len(b"VALUE isr 0 500000\r\n") + len(value) + 2 + len(b"END\r\n"))
    got = 0
    closed = False
    try:
        r.sendall(b"get isr\r\n" * 30)
        deadline = time.monotonic() + 8
        while got < expected and time.monotonic() < deadline and not closed:
            time.sleep(0.1)
            budget = 400000
            while budget > 0:
                try:
                    d = r.recv(min(65536, budget))
                except (socket.timeout, TimeoutError):
                    break
                except ConnectionResetError:
                    closed = True
                    break
                if not d:
                    closed = True
                    break
                got += len(d)
                budget -= len(d)
    finally:
        r.close()
    return Reply(b"slow reader got the whole reply: %d\n" % (got == expected), False)


def idle_stalled_writer_script(ep: Endpoint, expect: Reply | None) -> Reply:
    w = connect(ep)
    try:
        w.setblocking(True)
        w.sendall(b"set isw 0 0 100\r\nabc")
        closed = _wait_closed(w, 3.0)
    finally:
        w.close()
    return Reply(b"stalled writer kicked: %d\n" % (closed is not None), False)


_IDLE = ("-o", "idle_timeout=1")
add(Case(name="idle_timeout_plain", chunks=(), script=idle_plain_script, flags=_IDLE,
         stats=["idle_kicks"]))
add(Case(name="idle_timeout_trickler_is_idle", chunks=(), script=idle_trickler_script,
         flags=_IDLE))
add(Case(name="idle_timeout_spares_slow_reader", chunks=(), script=idle_slow_reader_script,
         flags=_IDLE))
add(Case(name="idle_timeout_stalled_writer", chunks=(), script=idle_stalled_writer_script,
         flags=_IDLE))


# =============================================================================================
# Differential fuzzing: mutated command sessions, the same bytes to both servers
# =============================================================================================
FUZZ_SESSIONS = 240
FUZZ_GROUPS = 4


def _completion(data: bytes) -> bytes | None:
    """Bytes that finish what the session left open (a data block, a line), so every queued
    reply is flushed; None when the session is not comparable (it closes the connection, or
    it waits for a huge data block)."""
    p = RequestParser()
    p.receive_data(data)
    while True:
        try:
            req = p.next_request()
        except ProtocolError as exc:
            if exc.close_after:
                return None
            continue
        if req is NEED_DATA:
            break
        if type(req) in DATA_HEADERS:
            p.discard_value()       # refused or not, the block is nbytes + 2 bytes
    if p.state in (DATA, SWALLOW):
        left = p._left          # noqa: SLF001
        return None if left > 1 << 20 else b"x" * left + b"\r\n"
    return b"\r\n" if p.buffered else b""


def fuzz_sessions(group: int) -> list[list[bytes]]:
    out = []
    seed = group * 100000
    while len(out) < FUZZ_SESSIONS // FUZZ_GROUPS:
        seed += 1
        rng = random.Random(seed)
        data = b"".join(session(rng, rng.randrange(1, 12), prefix=b"f%d_" % seed,
                                mutate_p=0.7, safe=True))
        if b"HTTP/" in data or b"\x80" == data[:1]:
            continue                # the HTTP and binary rules have their own cases
        tail = _completion(data)
        if tail is None:
            continue
        out.append(split_randomly(rng, data, 3) + [tail + b"mn\r\n"])
    return out


def _session_reply(ep: Endpoint, chunks: list[bytes]) -> bytes:
    s = socket.create_connection(ep.addr, 5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        for c in chunks:
            s.sendall(c)
            time.sleep(0.002)
        s.settimeout(1.0)
        while not buf.endswith(b"MN\r\n"):
            try:
                d = s.recv(1 << 20)
            except (socket.timeout, TimeoutError):
                return buf + b"<no MN within 1 s>"
            if not d:
                return buf + b"<closed>"
            buf += d
    except OSError as exc:
        return buf + b"<%s>" % type(exc).__name__.encode()
    finally:
        s.close()
    return buf


def fuzz_script(group: int):
    def script(ep: Endpoint, expect: Reply | None) -> Reply:
        parts = []
        for i, chunks in enumerate(fuzz_sessions(group)):
            parts.append(b"== session %d\r\n" % i + _session_reply(ep, chunks))
        return Reply(b"".join(parts), False)
    return script


for _g in range(FUZZ_GROUPS):
    add(Case(name=f"fuzz_mutated_sessions_{_g}", chunks=(), script=fuzz_script(_g),
             fresh=True,
             masks=[(rb" t-?[0-9]+", b" t<ttl>"), (rb" l[0-9]+", b" l<la>"),
                    (rb"^ME .*", b"ME <masked>")],
             doc=f"{FUZZ_SESSIONS // FUZZ_GROUPS} seeded sessions of mutated commands"))
