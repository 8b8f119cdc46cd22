"""What memcache-cli prints for replies: escaping, VALUE tables, stats tables (no sockets)."""

import pytest

from memcache_py.cli import storage_request, wants_data
from memcache_py.display import Line, Value, escape, render

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("data, shown", [
    (b"hello", "hello"),
    (b"caf\xc3\xa9 \xe2\x98\x95", "café ☕"),
    (b"a\x00b", "a\\x00b"),
    (b"line\r\nnext\ttab", "line\\r\\nnext\\ttab"),
    (b"\xff\xfe\\", "\\xff\\xfe\\\\"),
    (b"", ""),
])
def test_escape(data, shown):
    assert escape(data) == shown


def test_values_become_one_table():
    parts = [Value("VALUE greeting 0 5", b"hello"), Value("VALUE bin 7 3", b"\x00\x01z"),
             Line("END")]
    assert render(parts) == ["key       flags  bytes  value",
                             "greeting  0      5      hello",
                             "bin       7      3      \\x00\\x01z"]
    parts = [Value("VALUE k 1 2 99", b"hi"), Line("END")]
    assert render(parts) == ["key  flags  bytes  cas  value", "k    1      2      99   hi"]


def test_simple_and_meta_replies_as_they_came():
    assert render([Line("STORED")]) == ["STORED"]
    assert render([Line("END")]) == ["END"]
    assert render([Value("VA 2 f0 t-1", b"\x00a")]) == ["VA 2 f0 t-1", "  \\x00a"]
    assert render([Line("CLIENT_ERROR bad data chunk"), Line("ERROR")]) == \
        ["CLIENT_ERROR bad data chunk", "ERROR"]


def test_stats_aligned_and_per_class_pivoted():
    assert render([Line("STAT pid 12"), Line("STAT curr_connections 3"), Line("END")]) == \
        ["pid               12", "curr_connections  3"]
    parts = [Line(t) for t in ["STAT 1:chunk_size 96", "STAT 1:used_chunks 2",
                               "STAT 12:chunk_size 1184", "STAT active_slabs 2", "END"]]
    assert render(parts) == ["class        1   12",
                             "chunk_size   96  1184",
                             "used_chunks  2",
                             "",
                             "active_slabs  2"]
    parts = [Line("STAT items:3:number 5"), Line("STAT items:3:age 10"), Line("END")]
    assert render(parts) == ["class   3", "number  5", "age     10"]


@pytest.mark.parametrize("header, wanted", [
    (b"set k 0 0 5", True), (b"set k 0 0", True), (b"set k 0 0 noreply", True),
    (b"set k 0", False), (b"cas k 0 0 5 7", True), (b"cas k 0 0 7", True), (b"cas k 0 0", False),
    (b"ms k", True), (b"ms k 5 T0", True), (b"ms", False), (b"get k", False), (b"", False),
])
def test_which_commands_take_a_data_block(header, wanted):
    assert wants_data(header) is wanted


@pytest.mark.parametrize("header, request_line, noted", [
    (b"set k 0 0", b"set k 0 0 5", False),
    (b"set k 0 0 5", b"set k 0 0 5", False),
    (b"set k 0 0 9 noreply", b"set k 0 0 5 noreply", True),
    (b"set k 0 0 noreply", b"set k 0 0 5 noreply", False),
    (b"cas k 1 2 42", b"cas k 1 2 5 42", False),
    (b"cas k 1 2 3 42", b"cas k 1 2 5 42", True),
    (b"ms k T0 F3", b"ms k 5 T0 F3", False),
    (b"ms k 2 T0", b"ms k 5 T0", True),
])
def test_storage_requests_carry_the_true_length(header, request_line, noted):
    notes = []
    assert storage_request(header, b"hello", notes.append) == request_line + b"\r\nhello\r\n"
    assert bool(notes) is noted
