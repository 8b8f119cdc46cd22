"""Cache: memcached's command semantics over an ItemStore, with a FakeClock and no sockets."""

import pytest

from allocator import NIL, ItemStore
from memcache_py.cache import Cache
from memcache_py.clock import FakeClock
from memcache_py.errors import ClientError, ServerError
from memcache_py.outcome import Outcome

pytestmark = pytest.mark.unit

MB = 1 << 20


@pytest.fixture
def cache():
    return Cache(ItemStore(4 * MB), FakeClock())


def store(cache, mode, key, value, flags=0, exptime=0, cas=0):
    off = cache.reserve(mode, key, flags, exptime, len(value))
    cache.store.write_value(off, value)
    return cache.complete_store(mode, key, off, cas)


def value(cache, key):
    off = cache.store.get(key, cache.clock.current)
    return None if off == NIL else cache.store.value_bytes(off)


def test_set_add_replace_outcomes(cache):
    assert store(cache, b"add", b"k", b"1") is Outcome.STORED
    assert store(cache, b"add", b"k", b"2") is Outcome.NOT_STORED
    assert store(cache, b"replace", b"k", b"3") is Outcome.STORED
    assert store(cache, b"replace", b"missing", b"x") is Outcome.NOT_STORED
    assert store(cache, b"set", b"k", b"4") is Outcome.STORED
    assert value(cache, b"k") == b"4" and value(cache, b"missing") is None
    assert cache.stats.cmd_set == 5
    cache.store.check_invariants()


def test_cas_outcomes_and_counters(cache):
    assert store(cache, b"cas", b"k", b"x", cas=1) is Outcome.NOT_FOUND
    store(cache, b"set", b"k", b"v")
    cas = cache.store.cas_of(cache.store.get(b"k", cache.clock.current))
    assert store(cache, b"cas", b"k", b"w", cas=cas + 1) is Outcome.EXISTS
    assert store(cache, b"cas", b"k", b"w", cas=cas) is Outcome.STORED
    s = cache.stats
    assert (s.cas_misses, s.cas_badval, s.cas_hits) == (1, 1, 1)
    assert value(cache, b"k") == b"w"


def test_append_prepend_keep_flags_and_ttl(cache):
    store(cache, b"set", b"k", b"mid", flags=7, exptime=100)
    assert store(cache, b"append", b"k", b">") is Outcome.STORED
    assert store(cache, b"prepend", b"k", b"<") is Outcome.STORED
    off = cache.store.get(b"k", cache.clock.current)
    assert cache.store.value_bytes(off) == b"<mid>" and cache.store.flags_of(off) == 7
    assert cache.store.times_of(off)[1] == cache.clock.realtime(100)
    assert store(cache, b"append", b"nokey", b"x") is Outcome.NOT_STORED


def test_incr_decr_in_place_and_growing(cache):
    store(cache, b"set", b"n", b"9")
    assert cache.arith(b"n", True, 1) == 10          # longer: a new item
    assert value(cache, b"n") == b"10"
    assert cache.arith(b"n", False, 5) == 5           # in place, space padded
    assert value(cache, b"n") == b"5 "
    assert cache.arith(b"n", False, 100) == 0         # decr stops at 0
    assert cache.arith(b"n", True, 2**64 - 1) == 2**64 - 1   # wraps at 64 bits
    assert cache.arith(b"missing", True, 1) is None
    store(cache, b"set", b"s", b"abc")
    with pytest.raises(ClientError):
        cache.arith(b"s", True, 1)


def test_expiry_touch_and_delete(cache):
    store(cache, b"set", b"k", b"v", exptime=2)
    cache.clock.advance(1)
    assert cache.touch(b"k", 10) != NIL
    cache.clock.advance(5)
    assert value(cache, b"k") == b"v"                 # the touch moved its exptime
    cache.clock.advance(10)
    assert value(cache, b"k") is None and cache.store.get_expired == 1
    store(cache, b"set", b"d", b"v")
    assert cache.delete(b"d") and not cache.delete(b"d")
    assert (cache.stats.delete_hits, cache.stats.delete_misses) == (1, 1)


def test_flush_all_now_and_delayed(cache):
    store(cache, b"set", b"a", b"1")
    cache.flush_all(0)
    assert value(cache, b"a") is None
    store(cache, b"set", b"b", b"2")
    assert value(cache, b"b") == b"2"                 # stored after the flush: alive
    cache.flush_all(3)                                # oldest_live = realtime(3) - 1
    cache.clock.advance(1)
    assert value(cache, b"b") == b"2"
    cache.clock.advance(1)
    assert value(cache, b"b") is None


def test_flush_all_refused_when_disabled():
    cache = Cache(ItemStore(4 * MB), FakeClock(), flush_enabled=False)
    with pytest.raises(ClientError):
        cache.flush_all(0)


def test_a_refused_set_deletes_the_old_value():
    cache = Cache(ItemStore(4 * MB, item_size_max=MB), FakeClock())
    store(cache, b"set", b"k", b"old")
    with pytest.raises(ServerError) as exc:
        cache.reserve(b"set", b"k", 0, 0, 2 * MB)
    assert exc.value.reply == b"SERVER_ERROR object too large for cache\r\n"
    assert value(cache, b"k") is None and cache.stats.store_too_large == 1
