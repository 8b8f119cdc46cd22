"""Every hand-inlined copy that remains for speed agrees with its named definition.

Each copy says, beside it, what it copies and what the call would cost; these tests hold the
two together, so a change to the definition that misses the copy fails here.
"""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator import NIL, ItemStore, item_ntotal
from memcache_py.values import INLINE_VALUE_MAX
from tests.conftest import connect_fake, offline_daemon

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100


def put(store, key, value, flags=0):
    off = store.reserve(key, flags, 0, len(value), NOW)
    store.write_value(off, value)
    store.link(off, key)
    return off


# ---- slabclass.item_ntotal, inlined in ItemStore.reserve / link / _unlink_item ---------------
@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=250), nbytes=st.integers(0, 600_000),
       flags=st.sampled_from([0, 1, 2**32 - 1]), cas=st.booleans())
def test_reserve_link_unlink_count_item_ntotal(key, nbytes, flags, cas):
    store = ItemStore(4 * MB, cas_enabled=cas)
    expect = item_ntotal(len(key), nbytes, flags, cas)
    off = store.reserve(key, flags, 0, nbytes, NOW)     # reserve's copy picks the class
    cid = store.class_of(off)
    if expect <= store.classes.slab_chunk_max:
        assert cid == store.classes.class_for(expect)
    store.link(off, key)                                # link's copy adds
    assert store.bytes == store.item_total(off) == expect
    assert store.mem_requested[cid] == expect
    store.unlink(off)                                   # _unlink_item's copy takes away
    assert store.bytes == 0 and store.mem_requested[cid] == 0
    store.check_invariants()


def test_reserve_refuses_exactly_past_item_size_max():
    store = ItemStore(4 * MB, item_size_max=MB)
    nbytes = MB - item_ntotal(1, 0, 0)
    store.release(store.reserve(b"k", 0, 0, nbytes, NOW))
    with pytest.raises(Exception):
        store.reserve(b"k", 0, 0, nbytes + 1, NOW)


# ---- KeyIndex._slot_of, inlined in get() and swap() ------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300)), min_size=1, max_size=400))
def test_index_get_and_swap_agree_with_slot_of(ops):
    store = ItemStore(4 * MB)
    index = store.index
    live = {}
    for insert, n in ops:
        key = b"key%d" % n
        if insert:
            live[key] = put(store, key, b"v")
        elif key in live:
            store.unlink(live.pop(key), key)
    for n in range(301):
        key = b"key%d" % n
        slot = index._slot_of(key, hash(key))
        by_slot = None if slot < 0 else index._slots[slot] << 3
        assert index.get(key) == by_slot == live.get(key)


# ---- Pins.unpin, inlined in ItemStore.link ----------------------------------------------------
@pytest.mark.parametrize("extra_pins", [0, 1, 3])
def test_link_drops_the_receivers_pin_as_unpin_would(extra_pins):
    store = ItemStore(4 * MB)
    off = store.reserve(b"k", 0, 0, 1, NOW)
    for _ in range(extra_pins):
        store.pin(off)
    store.write_value(off, b"v")
    store.link(off, b"k")
    assert store.pins.count(off) == extra_pins
    for _ in range(extra_pins):
        store.unpin(off)
    assert not store.is_pinned(off) and store.get(b"k", NOW) == off
    store.check_invariants()


# ---- ValueWriter.append, written out in lone_get and append_hits ------------------------------
def _items(store):
    rng = random.Random(7)
    sizes = [0, 1, 100, INLINE_VALUE_MAX, INLINE_VALUE_MAX + 1, 700_000]
    keys = []
    for i, size in enumerate(sizes):
        key = b"k%d" % i
        put(store, key, bytes(rng.randrange(256) for _ in range(min(size, 64))) * (size // 64)
            + b"x" * (size % 64), flags=i)
        keys.append(key)
    return keys + [b"missing"]


def _by_append(daemon, keys, with_cas):
    values, store = daemon.values, daemon.cache.store
    out = []
    with store.pin_set() as pins:
        for key in keys:
            off = store.get(key, daemon.clock.current)
            if off != NIL:
                values.append(out, pins, key, off, with_cas)
        return b"".join(out) + b"END\r\n"


@pytest.mark.parametrize("with_cas", [False, True])
def test_append_hits_writes_what_append_writes(with_cas):
    d = offline_daemon(memory_limit=16 * MB)
    keys = _items(d.cache.store)
    expect = _by_append(d, keys, with_cas)
    store = d.cache.store
    out = []
    with store.pin_set() as pins:
        hits = d.values.append_hits(out, pins, keys, store.get_many(keys, NOW), with_cas)
        got = b"".join(out) + b"END\r\n"
    assert got == expect and hits == len(keys) - 1
    store.check_invariants()


def test_lone_get_writes_what_append_writes_and_counts_the_same():
    d = offline_daemon(memory_limit=16 * MB)
    keys = _items(d.cache.store)
    for key in keys:
        expect = _by_append(d, [key], False)
        slab_hits = [c.get_hits for c in d.cache.store.slab_counters]
        stats = (d.stats.cmd_get, d.stats.get_hits, d.stats.get_misses)
        p, t = connect_fake(d)
        p.data_received(b"get %s\r\n" % key)          # the lone path: ValueWriter.lone_get
        assert t.written == expect
        hit = key != b"missing"
        assert (d.stats.cmd_get, d.stats.get_hits, d.stats.get_misses) == (
            stats[0] + 1, stats[1] + hit, stats[2] + (not hit))
        moved = [c.get_hits - s for c, s in zip(d.cache.store.slab_counters, slab_hits)]
        assert sum(moved) == hit            # the hit, in its item's class
        p.connection_lost(None)
    d.cache.store.check_invariants()
    assert not d.cache.store.refs


# ---- Liveness.is_reclaimable, inlined in TailPuller.pull_tail ---------------------------------
@settings(max_examples=150, deadline=None)
@given(exptime=st.integers(0, 40), now=st.integers(20, 40), flush=st.sampled_from(
    [None, ("now", 0), ("at", 0), ("at", 10), ("at", 25)]))
def test_the_tail_walk_reclaims_what_is_reclaimable_says(exptime, now, flush):
    store = ItemStore(MB)
    off = store.reserve(b"k", 0, exptime, 1, 20)
    store.write_value(off, b"v")
    store.link(off, b"k")
    if flush is not None:
        kind, at = flush
        store.flush(at, immediate=kind == "now")
    expect = store.liveness.is_reclaimable(off, now)
    assert store.tails.pull_tail(1, now, evict=False) == int(expect)
    assert store.item_stats[1].reclaimed == int(expect)
    store.check_invariants()


# ---- ItemStore.class_of, inlined in Cache.complete_store --------------------------------------
@pytest.mark.parametrize("mode", [b"set", b"add", b"replace"])
def test_complete_store_counts_cmd_set_in_the_items_class(mode):
    from memcache_py.cache import Cache
    from memcache_py.clock import FakeClock
    cache = Cache(ItemStore(8 * MB), FakeClock())
    store = cache.store
    for size in (10, 1000, 100_000):
        if mode == b"replace":
            put(store, b"k%d" % size, b"old")
        off = cache.reserve(mode, b"k%d" % size, 0, 0, size)
        store.write_value(off, b"x" * size)
        cache.complete_store(mode, b"k%d" % size, off)
        assert store.slab_counters[store.class_of(off)].cmd_set == 1
    assert sum(c.cmd_set for c in store.slab_counters) == 3
