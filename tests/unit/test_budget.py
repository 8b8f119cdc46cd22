"""MemoryBudget, and the two daemon-wide budgets a connection draws on (issue #5): partial get
lines past 2048 bytes, and queued replies copied out of the arena when writing pauses.

The connection runs over a fake transport (no sockets, no event loop), so each step is exact.
"""

import pytest

from memcache_py.budget import LINE_BUDGET, MemoryBudget
from memcache_py.connection import OUT_OF_MEMORY_READING, QueuedCopy
from memcache_py.parser import LINE_MAX_NO_NEWLINE
from tests.conftest import FakeTransport, connect_fake as connect, offline_daemon as make_daemon

pytestmark = pytest.mark.unit

MB = 1024 * 1024


# ---- MemoryBudget ---------------------------------------------------------------------------
def test_take_is_all_or_nothing():
    b = MemoryBudget(100)
    assert b.take(60) and b.used == 60
    assert not b.take(41) and b.used == 60, "a refused take must reserve nothing"
    assert b.take(40) and b.available == 0
    assert not b.take(1)


def test_give_makes_room_again():
    b = MemoryBudget(100)
    assert b.take(100)
    b.give(30)
    assert b.used == 70 and b.available == 30
    assert b.take(30)


def test_giving_back_more_than_taken_is_a_bug():
    b = MemoryBudget(10)
    b.take(5)
    with pytest.raises(AssertionError):
        b.give(6)


# ---- partial get lines ----------------------------------------------------------------------
def test_line_budget_defaults_and_follows_read_buf_mem_limit():
    assert make_daemon().line_budget.limit == LINE_BUDGET
    assert make_daemon(read_buf_mem_limit=5 * MB).line_budget.limit == 5 * MB


def test_a_long_partial_get_line_is_charged_until_it_completes():
    d = make_daemon()
    p, t = connect(d)
    p.data_received(b"get " + b"k " * 1000)          # 2004 bytes: memcached's rule allows it
    assert d.line_budget.used == 0
    p.data_received(b"k " * 10_000)
    held = p.session.parser.buffered
    assert held > LINE_MAX_NO_NEWLINE and d.line_budget.used == held == p.line_charge
    p.data_received(b"k " * 10_000)
    assert d.line_budget.used == p.session.parser.buffered
    p.data_received(b"\r\n")
    assert d.line_budget.used == 0 and p.line_charge == 0
    assert t.written == b"END\r\n" and not t.closed


def test_past_the_line_budget_out_of_memory_then_close():
    d = make_daemon(read_buf_mem_limit=1 * MB)
    a, ta = connect(d)
    b, tb = connect(d)
    a.data_received(b"get " + b"k " * (600 * 1024 // 2))
    assert d.line_budget.used == a.line_charge > 0
    b.data_received(b"get " + b"k " * (300 * 1024 // 2))
    b.data_received(b"k " * (300 * 1024 // 2))           # a + b would pass 1 MB
    assert tb.written == OUT_OF_MEMORY_READING and tb.closed
    assert not ta.closed and ta.written == b""
    assert d.line_budget.used == a.line_charge + b.line_charge, "b keeps its charge until gone"
    b.connection_lost(None)
    assert d.line_budget.used == a.line_charge
    a.connection_lost(None)
    assert d.line_budget.used == 0


def test_ordinary_traffic_takes_nothing_from_the_line_budget():
    d = make_daemon()
    p, t = connect(d)
    for piece in (b"set a 0 0 1\r\nx\r\nget a", b" a a\r\n", b"get " + b"a " * 900 + b"\r\n"):
        p.data_received(piece)
        assert d.line_budget.used == 0 and p.session.parser.unterminated == 0
    assert t.written.count(b"VALUE a 0 1\r\n") == 903


# ---- queued views copied out of the arena ---------------------------------------------------
VALUE = b"v" * 100_000


def stored(d, key: bytes = b"big"):
    p, _ = connect(d)
    p.data_received(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(VALUE), VALUE))
    p.connection_lost(None)


def reply(n: int, key: bytes = b"big") -> bytes:
    return (b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(VALUE), VALUE)) * n


def test_a_paused_reader_holds_copies_not_pins_and_gets_its_bytes():
    d = make_daemon()
    stored(d)
    p, t = connect(d, FakeTransport(room=150_000))
    p.data_received(b"get big\r\n" * 4)
    assert p.flow.write_paused and p.out, "writing paused with a reply still queued"
    assert d.cache.store.refs == {}, "queued views must not keep the item pinned"
    copies = [x for x in p.out if type(x) is QueuedCopy]
    assert copies and d.copy_budget.used == p.copied == sum(map(len, copies))
    while p.out or p.flow.write_paused:
        t.drain()
    assert d.copy_budget.used == 0 and p.copied == 0
    assert t.written == reply(4)


def test_copies_stay_in_the_budget_until_written_or_gone():
    d = make_daemon()
    stored(d)
    p, t = connect(d, FakeTransport(room=150_000))
    p.data_received(b"get big\r\n" * 4)
    assert d.copy_budget.used > 0
    p.connection_lost(None)
    assert d.copy_budget.used == 0 and d.cache.store.refs == {}


def test_past_the_copy_budget_views_stay_pinned():
    d = make_daemon()
    d.copy_budget = MemoryBudget(50_000)        # less than one value
    stored(d)
    p, t = connect(d, FakeTransport(room=150_000))
    p.data_received(b"get big\r\n" * 4)
    assert p.flow.write_paused and d.copy_budget.used == 0
    assert not any(type(x) is QueuedCopy for x in p.out)
    assert list(d.cache.store.refs.values()) == [1], "memcached holds a reference here too"
    while p.out or p.flow.write_paused:
        t.drain()
    assert d.cache.store.refs == {} and t.written == reply(4)


def test_a_deleted_item_copied_out_is_freed_and_its_bytes_still_arrive():
    d = make_daemon()
    stored(d)
    p, t = connect(d, FakeTransport(room=150_000))
    p.data_received(b"get big\r\n" * 4)
    assert d.cache.store.refs == {}
    w, tw = connect(d)
    w.data_received(b"delete big\r\nset big 0 0 3\r\nnew\r\n")
    assert tw.written == b"DELETED\r\nSTORED\r\n"
    d.cache.store.check_invariants()
    while p.out or p.flow.write_paused:
        t.drain()
    assert t.written == reply(3) + b"VALUE big 0 3\r\nnew\r\nEND\r\n", \
        "the three gets run before the delete keep the old value; the fourth sees the new one"
