"""TailPuller: the 5-candidate tail walk, step by step, on a store whose class 1 is full."""

import pytest

from allocator import NIL, TAIL_TRIES, ItemStore, OutOfMemory

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100
PER_PAGE = 10922                # class 1 (96-byte chunks) in one 1 MB page


def full(**kw):
    store = ItemStore(MB, **kw)
    for i in range(PER_PAGE):
        off = store.reserve(b"k%d" % i, 0, 0, 20, NOW)
        store.write_value(off, b"x" * 20)
        store.link(off, b"k%d" % i)
    return store


def tail(store, n):
    return list(store.lru.iter_from_tail(1, n))


def test_evicts_the_first_live_unpinned_tail_item():
    store = full()
    first = tail(store, 1)[0]
    assert store.tails.pull_tail(1, NOW, evict=True) == 1
    st = store.item_stats[1]
    assert (st.evicted, st.evicted_unfetched, st.reclaimed) == (1, 1, 0)
    assert store.get(b"k0", NOW) == NIL and first not in tail(store, 3)
    store.check_invariants()


def test_evict_false_only_reclaims():
    store = full()
    assert store.tails.pull_tail(1, NOW, evict=False) == 0
    assert store.item_stats[1].evicted == 0 and store.curr_items == PER_PAGE


def test_pinned_tail_items_are_skipped_and_counted():
    store = full()
    for off in tail(store, 2):
        store.pin(off)
    assert store.tails.pull_tail(1, NOW, evict=True) == 1
    st = store.item_stats[1]
    assert st.lrutail_reflocked == 2 and st.evicted == 1
    assert store.get(b"k0", NOW) != NIL and store.get(b"k2", NOW) == NIL


def test_no_more_than_five_candidates():
    store = full()
    for off in tail(store, TAIL_TRIES):
        store.pin(off)
    assert store.tails.pull_tail(1, NOW, evict=True) == 0
    assert store.item_stats[1].lrutail_reflocked == TAIL_TRIES
    with pytest.raises(OutOfMemory):
        store.alloc_chunk(1, NOW)
    assert store.item_stats[1].outofmemory == 1


def test_expired_items_are_reclaimed_and_the_walk_goes_on():
    store = full()
    for off in tail(store, 2):
        store.set_exptime(off, NOW - 1)
    assert store.tails.pull_tail(1, NOW, evict=True) == 3      # 2 reclaimed, 1 evicted
    st = store.item_stats[1]
    assert (st.reclaimed, st.expired_unfetched, st.evicted) == (2, 2, 1)
    store.check_invariants()


def test_the_tail_reclaims_one_second_after_a_lookup_would():
    store = full()
    off = tail(store, 1)[0]
    store.set_exptime(off, NOW)                  # exptime == now: a get finds it dead...
    assert store.tails.pull_tail(1, NOW, evict=False) == 0     # ...the tail not yet
    assert store.tails.pull_tail(1, NOW + 1, evict=False) == 1


def test_no_evictions_with_dash_m():
    store = full(evictions=False)
    assert store.tails.pull_tail(1, NOW, evict=True) == 0
    with pytest.raises(OutOfMemory):
        store.alloc_chunk(1, NOW)
