"""Fuzzing the sans-IO RequestParser (issue #5): arbitrary bytes, mutated commands, any chunking.

The only outcomes allowed are requests, NEED_DATA and a `ProtocolError` carrying memcached's
reply (or its close). Anything else escaping `next_request()` is a parser bug. Properties:
  * nothing but ProtocolError ever escapes, whatever the bytes and however they are split;
  * the events do not depend on how the stream is split into reads (for lines < 2048 bytes);
  * one line gives exactly one event: the stream re-synchronises after any garbage line;
  * what the parser holds stays bounded (2048 bytes for non-get lines, GET_LINE_MAX for get);
  * a long get line trickled in small reads costs linear time, not quadratic.

The command generator and mutator here (`session`, `mutate`, `valid_command`) are shared with
tests/integration/test_fuzz_daemon.py and tests/differential/corpus_hardening.py.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memcache_py.errors import ProtocolError
from memcache_py.meta import MetaSet
from memcache_py.parser import (DATA_HEADERS, GET_LINE_MAX, LINE_MAX_NO_NEWLINE, NEED_DATA,
                                RequestParser)
from memcache_py.requests import Get, ValueDiscarded, ValueReceived

pytestmark = pytest.mark.unit

# ---------------------------------------------------------------------------------------------
# A generator of valid commands and a mutator (deterministic for a given random.Random)
# ---------------------------------------------------------------------------------------------
STORAGE_VERBS = (b"set", b"add", b"replace", b"append", b"prepend")
DATA_VERBS = frozenset(STORAGE_VERBS + (b"cas", b"ms"))
INTERESTING_TOKENS = (
    b"0", b"1", b"-1", b"+1", b"00", b"4294967295", b"4294967296", b"2147483647",
    b"2147483645", b"2147483646", b"18446744073709551615", b"18446744073709551616",
    b"-2147483649", b"2592000", b"2592001", b"5abc", b"0x10", b"noreply", b"NOREPLY",
    b"HTTP/1.1", b"k" * 250, b"k" * 251, b"\x80", b"\xff\xfe", b"v", b"q", b"k", b"O123",
    b"T-1", b"N0", b"MI", b"MZ", b"b", b"bQUJD", b"C0", b"D5", b"J7", b"F1", b"I", b"S100",
    b"xyz", b"gets", b"get", b"set", b"mn",
)
INTERESTING_BYTES = b"\r\n\0\t \x80\xff\x7f0-+k"


def _key(rng: random.Random, prefix: bytes) -> bytes:
    return prefix + b"%d" % rng.randrange(4)


def valid_command(rng: random.Random, prefix: bytes = b"fz", *, safe: bool = False) -> bytes:
    """One well-formed command with its data block.

    `safe` leaves out what depends on the clock or on the process (stats, TTL/last-access
    flags, delayed flush, me), for comparing replies with memcached byte for byte.
    """
    k = _key(rng, prefix)
    nr = b" noreply" if rng.random() < 0.15 else b""
    value = rng.choice((b"", b"1", b"42", b"abc", b"a\r\nb", b"x" * rng.randrange(0, 120),
                        bytes(rng.randrange(256) for _ in range(rng.randrange(8)))))
    kind = rng.randrange(20)
    if kind < 4:
        verb = rng.choice(STORAGE_VERBS)
        return b"%s %s %d %d %d%s\r\n%s\r\n" % (verb, k, rng.choice((0, 1, 65535)),
                                                rng.choice((0, 0, 100, -1)), len(value), nr,
                                                value)
    if kind == 4:
        return b"cas %s 0 0 %d %d%s\r\n%s\r\n" % (k, len(value), rng.randrange(4), nr, value)
    if kind < 8:
        verb = rng.choice((b"get", b"gets", b"bget"))
        return verb + b" " + b" ".join(_key(rng, prefix) for _ in range(rng.randrange(1, 5))) \
            + b"\r\n"
    if kind == 8:
        verb = rng.choice((b"gat", b"gats"))
        return b"%s %d %s\r\n" % (verb, rng.choice((0, 100)), k)
    if kind == 9:
        return b"delete %s%s%s\r\n" % (k, rng.choice((b"", b" 0")), nr)
    if kind == 10:
        return b"%s %s %d%s\r\n" % (rng.choice((b"incr", b"decr")), k, rng.randrange(1000), nr)
    if kind == 11:
        return b"touch %s %d%s\r\n" % (k, rng.choice((0, 100)), nr)
    if kind == 12:
        flags = rng.sample([b"v", b"k", b"c", b"f", b"s", b"O99", b"q", b"N0", b"T0", b"E5"]
                           + ([] if safe else [b"t", b"l", b"h"]), rng.randrange(0, 4))
        return b"mg " + k + b"".join(b" " + f for f in flags) + b"\r\n"
    if kind == 13:
        flags = rng.sample([b"T0", b"F5", b"q", b"k", b"O1", b"MA", b"ME", b"MS", b"c", b"I"],
                           rng.randrange(0, 3))
        return b"ms %s %d%s\r\n%s\r\n" % (k, len(value), b"".join(b" " + f for f in flags),
                                          value)
    if kind == 14:
        flags = rng.sample([b"q", b"k", b"O2", b"C1", b"I", b"T30"], rng.randrange(0, 3))
        return b"md " + k + b"".join(b" " + f for f in flags) + b"\r\n"
    if kind == 15:
        flags = rng.sample([b"v", b"N0", b"J5", b"D3", b"MD", b"q", b"k", b"c"],
                           rng.randrange(0, 4))
        return b"ma " + k + b"".join(b" " + f for f in flags) + b"\r\n"
    if kind == 16:
        return rng.choice((b"mn\r\n", b"version\r\n", b"verbosity 1\r\n"))
    if kind == 17:
        return rng.choice((b"flush_all\r\n", b"flush_all 0\r\n", b"flush_all noreply\r\n"))
    if kind == 18 and not safe:
        return rng.choice((b"stats\r\n", b"stats items\r\n", b"stats slabs\r\n",
                           b"stats settings\r\n", b"stats conns\r\n", b"stats sizes\r\n",
                           b"stats detail dump\r\n", b"me " + k + b"\r\n",
                           b"lru_crawler metadump all\r\n", b"stats cachedump 1 0\r\n"))
    return rng.choice((b"bogus\r\n", b"\r\n", b"GET / HTTP/1.0\r\n", b"shutdown\r\n",
                       b"slabs automove 1\r\n", b"lru tune 10 20 0.1 2.0\r\n",
                       b"cache_memlimit 100\r\n"))


def _mutate_tokens(rng: random.Random, line: bytes) -> bytes:
    toks = line.split(b" ")
    op = rng.randrange(5)
    i = rng.randrange(len(toks))
    if op == 0 and len(toks) > 1:
        del toks[i]
    elif op == 1:
        toks.insert(i, toks[i])
    elif op == 2:
        j = rng.randrange(len(toks))
        toks[i], toks[j] = toks[j], toks[i]
    elif op == 3:
        toks[i] = rng.choice(INTERESTING_TOKENS)
    else:
        toks.insert(i, rng.choice(INTERESTING_TOKENS))
    return b" ".join(toks)


def mutate(rng: random.Random, cmd: bytes) -> bytes:
    """A few random mutations of one command (its line, its data block, or its bytes)."""
    data = cmd
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(8)
        line, sep, rest = data.partition(b"\r\n")
        if op <= 2 and line:
            data = _mutate_tokens(rng, line) + sep + rest
        elif op == 3 and data:                   # flip a byte
            i = rng.randrange(len(data))
            data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
        elif op == 4:                            # insert an interesting byte
            i = rng.randrange(len(data) + 1)
            data = data[:i] + bytes([rng.choice(INTERESTING_BYTES)]) + data[i:]
        elif op == 5 and data:                   # delete a slice
            i = rng.randrange(len(data))
            data = data[:i] + data[i + rng.randrange(1, 4):]
        elif op == 6 and data:                   # truncate
            data = data[:rng.randrange(len(data))]
        else:                                    # duplicate a slice
            i = rng.randrange(len(data) + 1)
            j = min(len(data), i + rng.randrange(1, 12))
            data = data[:j] + data[i:j] + data[j:]
    return data


def session(rng: random.Random, n: int, prefix: bytes = b"fz", *, mutate_p: float = 0.5,
            safe: bool = False) -> list[bytes]:
    """`n` commands, each mutated with probability `mutate_p`."""
    out = []
    for _ in range(n):
        cmd = valid_command(rng, prefix, safe=safe)
        if rng.random() < mutate_p:
            cmd = mutate(rng, cmd)
        out.append(cmd)
    return out


def split_randomly(rng: random.Random, data: bytes, max_pieces: int = 8) -> list[bytes]:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(max_pieces)))
    pieces, last = [], 0
    for c in cuts + [len(data)]:
        if c > last:
            pieces.append(data[last:c])
            last = c
    return pieces


# ---------------------------------------------------------------------------------------------
# Driving the parser the way the connection does
# ---------------------------------------------------------------------------------------------
SINK_MAX = 4096     # larger declared blocks are refused (swallowed), like a too-large store
COUNTS = {"inputs": 0}


def check_bounded(p: RequestParser) -> None:
    """What the parser holds: at most 2048 bytes of a non-get line, GET_LINE_MAX of a get."""
    held = p.buffered
    assert held <= GET_LINE_MAX, f"parser holds {held} bytes"
    if held > LINE_MAX_NO_NEWLINE:
        start = p._buf[p._pos:p._pos + 106]     # noqa: SLF001 - where the held line begins
        assert start.lstrip(b" ").startswith((b"get ", b"gets ")), (
            f"a {held}-byte non-get line is held without a newline: {start[:40]!r}")


def drive(chunks: list[bytes]) -> tuple[list, bool]:
    """Feed the chunks; the events (requests, values, error replies) and whether it closed."""
    COUNTS["inputs"] += 1
    p = RequestParser()
    events: list = []
    sink = bytearray()
    for chunk in chunks:
        if not chunk:
            continue
        p.receive_data(chunk)
        while True:
            try:
                ev = p.next_request()
            except ProtocolError as exc:
                events.append(("error", type(exc).__name__, exc.reply, exc.noreply))
                if exc.close_after:
                    return events, True
                continue
            if ev is NEED_DATA:
                break
            if type(ev) is ValueReceived:
                events.append(("value", ev.valid, bytes(sink)))
                continue
            if type(ev) is ValueDiscarded:
                events.append(("discarded",))
                continue
            events.append(ev)
            if type(ev) in DATA_HEADERS:
                refused = isinstance(ev, MetaSet) and ev.error is not None
                if refused or ev.nbytes > SINK_MAX:
                    p.discard_value()
                else:
                    sink = bytearray(ev.nbytes + 2)
                    cut = (ev.nbytes + 2) // 2      # two views, as a chunked item has
                    mv = memoryview(sink)
                    p.receive_value_into([mv[:cut], mv[cut:]] if cut else [mv])
        check_bounded(p)
    return events, False


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=3000), st.randoms(use_true_random=False))
def test_arbitrary_bytes_only_protocol_outcomes(data, rng):
    """Random bytes, randomly split: only requests and memcached's error replies/closes."""
    drive(split_randomly(rng, data, 12))


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(1, 12))
def test_mutated_commands_only_protocol_outcomes(rng, n):
    data = b"".join(session(rng, n, mutate_p=0.7))
    drive(split_randomly(rng, data, 16))


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(1, 10))
def test_events_do_not_depend_on_how_reads_are_split(rng, n):
    """The same stream fed whole, byte by byte and randomly split gives the same events."""
    data = b"".join(session(rng, n, mutate_p=0.6))
    whole = drive([data])
    assert drive(split_randomly(rng, data, 20)) == whole
    assert drive([data[i:i + 1] for i in range(len(data))]) == whole


def _first_token(line: bytes) -> bytes:
    toks = [t for t in line.split(b"\0")[0].split(b" ") if t]
    return toks[0] if toks else b""


@FUZZ
@given(st.one_of(st.binary(max_size=1500),
                 st.randoms(use_true_random=False).map(
                     lambda r: mutate(r, valid_command(r)).partition(b"\r\n")[0])),
       st.sampled_from([b"\r\n", b"\n"]))
def test_one_line_one_event_then_in_sync(garbage, eol):
    """A garbage line (no newline inside, not a storage header) yields exactly one event and
    the next command is parsed normally: the stream stays in sync."""
    line = garbage.replace(b"\n", b"")
    if line.endswith(b"\r") and eol == b"\n":
        eol = b"\r\n"           # keep the line's own content: `...\r` + `\n` is its terminator
    events, closed = drive([line + eol + b"version\r\n"])
    if closed:
        return                  # HTTP probe: memcached closes too
    if type(events[0]) in DATA_HEADERS:
        return                  # a (mutated) storage header: its data block follows
    assert len(events) == 2, events
    assert type(events[1]).__name__ == "Version", events


def test_non_get_line_without_newline_closes_at_2048():
    p = RequestParser()
    p.receive_data(b"set " + b"x" * (LINE_MAX_NO_NEWLINE - 4))
    assert p.next_request() is NEED_DATA
    p.receive_data(b"x")
    with pytest.raises(ProtocolError) as exc:
        p.next_request()
    assert exc.value.close_after and exc.value.reply == b""


def test_get_line_without_newline_is_bounded_by_get_line_max():
    p = RequestParser()
    p.receive_data(b"get ")
    piece = b"key " * 65536                      # 256 KB
    closed = False
    for _ in range(GET_LINE_MAX // len(piece) + 2):
        p.receive_data(piece)
        try:
            assert p.next_request() is NEED_DATA
        except ProtocolError as exc:
            assert exc.close_after
            closed = True
            break
        check_bounded(p)
    assert closed, "a get line past GET_LINE_MAX must close the connection"


def test_huge_declared_length_is_swallowed_without_buffering():
    """`set k 0 0 2147483645` refused: the parser swallows, holding nothing it was sent."""
    p = RequestParser()
    p.receive_data(b"set k 0 0 2147483645\r\n")
    req = p.next_request()
    assert req.nbytes == 2147483645
    p.discard_value()
    blob = b"z" * 65536
    for _ in range(64):
        p.receive_data(blob)
        assert p.next_request() is NEED_DATA
        assert p.buffered == 0


def test_trickled_get_line_costs_linear_time():
    p = RequestParser()
    p.receive_data(b"get ")
    piece = b"key " * 256                        # 1 KB reads
    n = (GET_LINE_MAX - 1024) // len(piece)
    t0 = time.process_time()
    for i in range(n):
        p.receive_data(piece)
        assert p.next_request() is NEED_DATA
        spent = time.process_time() - t0
        assert spent < 0.5, f"{i + 1} reads of 1 KB took {spent:.2f} s of CPU (of {n})"
    p.receive_data(b"\r\n")
    keys = 0
    while True:                                  # served GET_SLICE keys at a time
        req = p.next_request()
        keys += len(req.keys)
        if req.end:
            break
    assert keys == n * 256


# ---------------------------------------------------------------------------------------------
# The lone-request shortcut agrees with the general path
# ---------------------------------------------------------------------------------------------
def _general(data: bytes):
    """What the general path makes of `data` fed to an idle parser: (request, consumed all)."""
    p = RequestParser()
    p.receive_data(data)
    try:
        req = p.next_request()
    except ProtocolError as exc:
        return exc, False
    if type(req) in DATA_HEADERS:
        sink = bytearray(req.nbytes + 2)
        p.receive_value_into([memoryview(sink)])
        done = p.next_request()
        return (req, done, bytes(sink)), p.buffered == 0
    return req, p.buffered == 0 and p.next_request() is NEED_DATA


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False), st.integers(0, 2))
def test_lone_request_means_what_the_general_path_means(rng, how):
    """Whatever `lone_request` accepts, the general parser reads as the same single request
    (and a set's block as valid, ending exactly at the end of the read)."""
    cmd = valid_command(rng)
    data = cmd if how == 0 else mutate(rng, cmd) if how == 1 else cmd + valid_command(rng)
    parser = RequestParser()
    lone = parser.lone_request(data)
    if lone is None:
        return
    general, whole = _general(data)
    assert whole, data
    if type(lone) is bytes:
        assert type(general) is Get and general.keys == [lone], data
        assert not general.with_cas and not general.touch, data
    elif type(general) is tuple:
        req, done, value = general
        assert req == lone and done == ValueReceived(True), data
        assert bytes(parser.lone_value) == value, data
    else:
        assert general == lone, data
        assert parser.lone_value is None


@pytest.mark.parametrize("data", [
    b"get k\r\n", b"get a b\r\n", b"gets k\r\n", b"set k 0 0 1\r\nv\r\n",
    b"set k 0 0 1 noreply\r\nv\r\n", b"get a\rb\r\n"])
def test_lone_request_takes_the_common_shapes(data):
    assert RequestParser().lone_request(data) is not None


@pytest.mark.parametrize("data", [
    b"get k\n", b"get  k\r\n", b"get k \r\n", b"get \r\n", b"get k\r\nget j\r\n",
    b"get " + b"k" * 251 + b"\r\n", b"get k\x00\r\n", b"set k 0 0 1\r\nvv\r\n",
    b"set k 0 0 2\r\nv\r\n", b"set k 0 0 1\r\nvxx", b"add k 0 0 1\r\nv\r\n",
    b"set k 0 0 -1\r\nv\r\n", b"gat 0 k\r\n", b"mg k v\r\n", b"get k\r\n\r\n"])
def test_lone_request_leaves_the_rest_to_the_general_path(data):
    assert RequestParser().lone_request(data) is None


def test_lone_request_only_when_nothing_is_buffered():
    p = RequestParser()
    p.receive_data(b"get par")
    assert p.lone_request(b"get k\r\n") is None
