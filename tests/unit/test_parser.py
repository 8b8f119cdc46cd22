"""RequestParser on bytes: each case fed whole, byte by byte, and followed by more input."""

import pytest

from memcache_py.errors import ClientError, CloseConnection, ProtocolError, UnknownCommand
from memcache_py.parser import IT_REFCOUNT_LIMIT, NEED_DATA, RequestParser
from memcache_py.requests import (Arith, Delete, FlushAll, Get, Quit, Stats, Store, Touch,
                                  ValueDiscarded, ValueReceived, Verbosity, Version)

pytestmark = pytest.mark.unit


def drain(parser):
    """All events the parser can produce now; storage values go into a bytearray sink."""
    events = []
    while True:
        try:
            ev = parser.next_request()
        except ProtocolError as exc:
            events.append(exc)
            if exc.close_after:
                return events
            continue
        if ev is NEED_DATA:
            return events
        if type(ev) is ValueDiscarded:
            continue
        events.append(ev)
        if isinstance(ev, Store):
            sink = bytearray(ev.nbytes + 2)
            ev_sinks.append(sink)
            parser.receive_value_into([memoryview(sink)])


ev_sinks: list[bytearray] = []


def feed(data: bytes, mode: str):
    ev_sinks.clear()
    p = RequestParser()
    events = []
    chunks = [data] if mode == "whole" else [data[i:i + 1] for i in range(len(data))]
    for c in chunks:
        p.receive_data(c)
        events += drain(p)
    return events


def same(a, b):
    """Compare events: requests by value, errors by type and reply."""
    if isinstance(a, ProtocolError):
        return type(a) is type(b) and a.reply == b.reply and a.noreply == b.noreply
    return type(a) is type(b) and a == b       # NamedTuples compare as plain tuples


@pytest.fixture(params=["whole", "bytewise"])
def mode(request):
    return request.param


CASES = [
    (b"get foo\r\n", [Get([b"foo"], False, False, 0)]),
    (b"get a b c\n", [Get([b"a", b"b", b"c"], False, False, 0)]),
    (b"gets a\r\n", [Get([b"a"], True, False, 0)]),
    (b"bget a\r\n", [Get([b"a"], False, False, 0)]),
    (b"gat 10 a b\r\n", [Get([b"a", b"b"], False, True, 10)]),
    (b"gats -1 a\r\n", [Get([b"a"], True, True, -1)]),
    (b"gat 100\r\n", [Get([], False, True, 100)]),
    (b"gat abc a\r\n", [ClientError("invalid exptime argument")]),
    (b"      get foo\r\n", [Get([b"foo"], False, False, 0)]),
    (b"get a\x00b\r\n", [Get([b"a"], False, False, 0)]),
    (b"get\r\n", [UnknownCommand()]),
    (b"\r\n", [UnknownCommand()]),
    (b" \n", [UnknownCommand()]),
    (b"VERSION\r\n", [UnknownCommand()]),
    (b"version extra\r\n", [Version()]),
    (b"set foo\t0 0 1\r\n", [UnknownCommand()]),
    (b"set foo 0 0 3\r\nbar\r\n", [Store(b"set", b"foo", 0, 0, 3, 0, False), ValueReceived(True)]),
    (b"set foo 0 0 3\nbar\r\nget foo\n", [Store(b"set", b"foo", 0, 0, 3, 0, False),
                                          ValueReceived(True), Get([b"foo"], False, False, 0)]),
    (b"set foo 0 0 1\r\nabc\r\n", [Store(b"set", b"foo", 0, 0, 1, 0, False), ValueReceived(False),
                                   UnknownCommand()]),
    (b"set foo 0 0 1 noreply\r\na\r\n", [Store(b"set", b"foo", 0, 0, 1, 0, True),
                                        ValueReceived(True)]),
    (b"set foo 0 0 1 garbage\r\na\r\n", [Store(b"set", b"foo", 0, 0, 1, 0, False),
                                        ValueReceived(True)]),
    (b"set foo 0 0 1 noreply extra\r\n", [UnknownCommand()]),
    (b"set foo -1 0 1\r\n", [ClientError("bad command line format")]),
    (b"set foo 4294967296 0 1\r\na\r\n", [Store(b"set", b"foo", 0, 0, 1, 0, False),
                                         ValueReceived(True)]),
    (b"set foo 0 0 -1\r\n", [ClientError("bad command line format")]),
    (b"set foo 0 0 4294967295\r\n", [ClientError("bad command line format")]),
    (b"set foo 0 0 +1\r\na\r\n", [Store(b"set", b"foo", 0, 0, 1, 0, False), ValueReceived(True)]),
    (b"set foo 0 0 abc noreply\r\n", [ClientError("bad command line format", noreply=True)]),
    (b"set " + b"k" * 251 + b" 0 0 1\r\na\r\n", [ClientError("bad command line format"),
                                                UnknownCommand()]),
    (b"get a " + b"k" * 251 + b"\r\n", [ClientError("bad command line format")]),
    (b"cas foo 0 0 1 abc\r\n", [ClientError("bad command line format")]),
    (b"cas foo 0 0 1 7 noreply\r\nx\r\n", [Store(b"cas", b"foo", 0, 0, 1, 7, True),
                                          ValueReceived(True)]),
    (b"delete k\r\n", [Delete(b"k", False)]),
    (b"delete k 0\r\n", [Delete(b"k", False)]),
    (b"delete k 0 noreply\r\n", [Delete(b"k", True)]),
    (b"delete k noreply\r\n", [Delete(b"k", True)]),
    (b"delete k 10\r\n", [ClientError("bad command line format.  Usage: delete <key> [noreply]")]),
    (b"delete k 10 noreply\r\n", [ClientError(
        "bad command line format.  Usage: delete <key> [noreply]", noreply=True)]),
    (b"delete\r\n", [UnknownCommand()]),
    (b"incr k 5\r\n", [Arith(True, b"k", 5, False)]),
    (b"decr k 18446744073709551615 noreply\r\n", [Arith(False, b"k", 2**64 - 1, True)]),
    (b"incr k -1\r\n", [ClientError("invalid numeric delta argument")]),
    (b"incr k 18446744073709551616\r\n", [ClientError("invalid numeric delta argument")]),
    (b"touch k 10\r\n", [Touch(b"k", 10, False)]),
    (b"touch k x noreply\r\n", [ClientError("invalid exptime argument", noreply=True)]),
    (b"flush_all\r\n", [FlushAll(0, False)]),
    (b"flush_all 10 noreply\r\n", [FlushAll(10, True)]),
    (b"flush_all noreply\r\n", [FlushAll(0, True)]),
    (b"flush_all 1 2\r\n", [FlushAll(1, False)]),
    (b"flush_all a b c\r\n", [UnknownCommand()]),
    (b"flush_all x\r\n", [ClientError("invalid exptime argument")]),
    (b"verbosity 1\r\n", [Verbosity(1, False)]),
    (b"verbosity\r\n", [UnknownCommand()]),
    (b"verbosity x\r\n", [ClientError("bad command line format")]),
    (b"verbosity noreply\r\n", [UnknownCommand()]),
    (b"quit now\r\n", [Quit()]),
    (b"stats slabs extra\r\n", [Stats([b"slabs", b"extra"])]),
    (b"GET / HTTP/1.0\r\n", [CloseConnection()]),
]


@pytest.mark.parametrize("data,expected", CASES, ids=[repr(c[0][:30]) for c in CASES])
def test_case(data, expected, mode):
    events = feed(data, mode)
    assert len(events) == len(expected), events
    assert all(same(e, g) for e, g in zip(expected, events)), events


@pytest.mark.parametrize("data,expected", CASES, ids=[repr(c[0][:30]) for c in CASES])
def test_case_then_more(data, expected):
    """A case followed by a pipelined command leaves the stream in sync."""
    if isinstance(expected[-1], CloseConnection):
        pytest.skip("closes")
    events = feed(data + b"version\r\n", "whole")
    assert type(events[-1]) is Version, events


def test_value_goes_into_the_sink_byte_by_byte():
    events = feed(b"set k 1 2 5\r\nhello\r\n", "bytewise")
    assert events[-1] == ValueReceived(True) and bytes(ev_sinks[0]) == b"hello\r\n"


def test_value_split_across_several_views():
    p = RequestParser()
    p.receive_data(b"set k 0 0 6\r\nabcdef\r\nget k\r\n")
    assert isinstance(p.next_request(), Store)
    a, b = bytearray(3), bytearray(5)
    p.receive_value_into([memoryview(a), memoryview(b)])
    assert p.next_request() == ValueReceived(True)
    assert bytes(a + b) == b"abcdef\r\n"
    assert p.next_request() == Get([b"k"], False, False, 0)


def test_discard_value_swallows_the_block():
    p = RequestParser()
    p.receive_data(b"set k 0 0 5\r\nhel")
    assert isinstance(p.next_request(), Store)
    p.discard_value()
    assert p.next_request() is NEED_DATA
    p.receive_data(b"lo\r\nversion\r\n")
    assert type(p.next_request()) is ValueDiscarded
    assert type(p.next_request()) is Version


def test_long_non_get_line_closes():
    p = RequestParser()
    p.receive_data(b"set " + b"x" * 2100)
    with pytest.raises(CloseConnection):
        p.next_request()


def test_long_line_below_limit_waits():
    p = RequestParser()
    p.receive_data(b"set " + b"x" * 1990)
    assert p.next_request() is NEED_DATA


def test_long_get_line_keeps_reading():
    p = RequestParser()
    keys = b" ".join(b"key%d" % i for i in range(3000))
    p.receive_data(b"get " + keys[:10000])
    assert p.next_request() is NEED_DATA
    p.receive_data(keys[10000:] + b"\r\n")
    assert len(all_get_keys(p)) == 3000


def all_get_keys(p):
    """The keys of a multi-get served in slices (GET_SLICE keys each, END on the last)."""
    keys = []
    while True:
        req = p.next_request()
        assert type(req) is Get
        keys += req.keys
        if req.end:
            return keys


def test_huge_multiget_comes_in_slices_with_one_end():
    p = RequestParser()
    p.receive_data(b"gets " + b" ".join(b"k%d" % i for i in range(200)) + b"\r\nversion\r\n")
    slices = []
    while True:
        req = p.next_request()
        if type(req) is not Get:
            break
        slices.append(req)
    assert [len(r.keys) for r in slices] == [64, 64, 64, 8]
    assert [r.end for r in slices] == [False, False, False, True]
    assert all(r.with_cas for r in slices) and type(req) is Version


def test_only_a_multiget_long_enough_to_reach_the_refcount_cap_counts_references():
    """memcached's IT_REFCOUNT_LIMIT: one counter per command, shared by all its slices."""
    p = RequestParser()
    p.receive_data(b"get " + b"k " * (IT_REFCOUNT_LIMIT - 1) + b"\r\n"
                   + b"gets " + b"k " * IT_REFCOUNT_LIMIT + b"\r\n"
                   + b"get " + b"k " * IT_REFCOUNT_LIMIT + b"\r\n")
    commands = []
    for _ in range(3):
        slices = [p.next_request()]
        while not slices[-1].end:
            slices.append(p.next_request())
        commands.append(slices)
    assert all(r.refs is None for r in commands[0])
    for slices in commands[1:]:
        assert sum(len(r.keys) for r in slices) == IT_REFCOUNT_LIMIT
        assert slices[0].refs == {} and all(r.refs is slices[0].refs for r in slices)
    assert commands[1][0].refs is not commands[2][0].refs
    assert p.next_request() is NEED_DATA


def test_unterminated_counts_a_long_partial_get_line_until_its_newline():
    """What the connection charges to the daemon's line budget (only past memcached's 2048)."""
    p = RequestParser()
    p.receive_data(b"get " + b"k " * 1000)
    assert p.next_request() is NEED_DATA and p.unterminated == 0
    p.receive_data(b"k " * 1000)
    assert p.next_request() is NEED_DATA and p.unterminated == p.buffered == 4004
    p.receive_data(b"k " * 1000)
    assert p.next_request() is NEED_DATA and p.unterminated == 6004
    p.receive_data(b"k\r\nget " + b"k " * 10)
    assert len(all_get_keys(p)) == 3001 and p.unterminated == 0
    assert p.next_request() is NEED_DATA and p.unterminated == 0


def test_complete_long_line_is_parsed():
    p = RequestParser()
    p.receive_data(b"set x 0 0 1 " + b"y" * 3000 + b"\r\na\r\n")
    assert isinstance(p.next_request(), Store)


def test_swallowed_block_then_its_event():
    """A refused store's block is dropped whole, then ValueDiscarded, then the next line."""
    p = RequestParser()
    p.receive_data(b"set k 0 0 3\r\nabc\r\nget k\r\n")
    assert type(p.next_request()) is Store
    p.discard_value()
    assert type(p.next_request()) is ValueDiscarded
    assert p.next_request() == Get([b"k"], False, False, 0)


def test_twenty_kilobyte_set_line_closes_even_when_complete():
    """memcached reads 16 KB at a time: a longer non-get line never holds its newline."""
    p = RequestParser()
    p.receive_data(b"set x 0 0 1 " + b"y" * 20000 + b"\r\na\r\n")
    with pytest.raises(CloseConnection):
        p.next_request()
