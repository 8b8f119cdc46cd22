"""ItemStore on a tiny arena: lifecycle, pins, expiry, flush and each branch of eviction."""

import pytest

from allocator import NIL, ItemStore, ItemTooLarge, OutOfMemory

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100


def put(store, key, value=b"v", now=NOW, exptime=0, flags=0):
    off = store.reserve(key, flags, exptime, len(value), now)
    data = value + b"\r\n"
    pos = 0
    for view in store.value_views(off):
        view[:] = data[pos:pos + len(view)]
        pos += len(view)
    store.link(off, key)
    return off


def value(store, off):
    return store.value_bytes(off)


def full_class_store(n_extra=0, **kw):
    """A 1-page store whose class 1 is full (10922 items of 96 bytes), oldest key k0."""
    store = ItemStore(MB, **kw)
    for i in range(10922 + n_extra):
        put(store, b"k%d" % i, b"x" * 20)
    return store


def test_reserve_write_link_get():
    store = ItemStore(2 * MB)
    off = put(store, b"foo", b"bar", flags=5)
    assert store.get(b"foo", NOW) == off
    assert value(store, off) == b"bar" and store.flags_of(off) == 5
    assert store.curr_items == 1 and store.bytes == store.ntotal(3, 3, 5)
    store.check_invariants()


def test_link_replaces_and_frees_old():
    store = ItemStore(2 * MB)
    put(store, b"k", b"one")
    off2 = put(store, b"k", b"two")
    assert store.get(b"k", NOW) == off2 and store.curr_items == 1
    assert store.slabs.classes[1].used_chunks == 1
    store.check_invariants()


def test_release_returns_the_chunk():
    store = ItemStore(2 * MB)
    off = store.reserve(b"k", 0, 0, 3, NOW)
    store.release(off)
    assert store.slabs.classes[1].used_chunks == 0 and store.get(b"k", NOW) == NIL
    store.check_invariants()


def test_too_large_is_refused_by_ntotal():
    store = ItemStore(4 * MB)
    store.reserve(b"x", 0, 0, 1048516, NOW)        # exactly item_size_max
    with pytest.raises(ItemTooLarge):
        store.reserve(b"x", 0, 0, 1048517, NOW)


def test_chunked_item_roundtrips():
    store = ItemStore(8 * MB)
    data = bytes(range(256)) * 2400                  # 614400 bytes > slab_chunk_max
    off = put(store, b"big", data)
    assert len(store.value_views(off)) == 2
    assert value(store, store.get(b"big", NOW)) == data
    store.unlink(off)
    assert store.slabs.classes[39].used_chunks == 0
    store.check_invariants()


def test_lazy_expiry_counts_get_expired():
    store = ItemStore(2 * MB)
    put(store, b"k", exptime=NOW + 5)
    assert store.get(b"k", NOW + 4) != NIL
    assert store.get(b"k", NOW + 5) == NIL
    assert store.get_expired == 1 and store.curr_items == 0
    store.check_invariants()


def test_get_many_counts_a_dead_item_once_however_often_its_key_repeats():
    store = ItemStore(2 * MB)
    put(store, b"dead", exptime=NOW + 5)
    live = put(store, b"live")
    found = store.get_many([b"dead", b"live", b"dead", b"nope", b"live", b"dead"], NOW + 5)
    assert found == [NIL, live, NIL, NIL, live, NIL]
    assert store.get_expired == 1 and store.curr_items == 1
    put(store, b"other")
    store.flush(NOW - 1, immediate=True)
    assert store.get_many([b"live", b"other", b"live"], NOW + 5) == [NIL, NIL, NIL]
    assert store.get_flushed == 2 and store.curr_items == 0
    store.check_invariants()


def test_get_many_expires_lazily_like_get():
    store = ItemStore(2 * MB)
    put(store, b"k", exptime=NOW + 5)
    assert store.get_many([b"k", b"k"], NOW + 4) != [NIL, NIL]
    assert store.get_many([b"k", b"k"], NOW + 5) == [NIL, NIL]
    assert store.get_expired == 1 and store.curr_items == 0
    store.check_invariants()


def test_flush_immediate_uses_the_cas_cliff():
    store = ItemStore(2 * MB)
    put(store, b"old")
    store.flush(NOW - 1, immediate=True)
    put(store, b"new", b"v" * 200)                  # same second, after the flush
    assert store.get(b"old", NOW) == NIL and store.get_flushed == 1
    assert store.get(b"new", NOW) != NIL


def test_flush_delayed_kills_items_not_written_since():
    store = ItemStore(2 * MB)
    put(store, b"a", now=NOW)
    store.flush(NOW + 9, immediate=False)
    assert store.get(b"a", NOW + 5, bump=False) != NIL
    put(store, b"b", now=NOW + 10)
    assert store.get(b"a", NOW + 10) == NIL
    assert store.get(b"b", NOW + 10) != NIL


def test_pinned_item_survives_unlink_until_unpinned():
    store = ItemStore(2 * MB)
    off = put(store, b"k", b"old")
    with store.pin_set() as pins:
        pins.add(off)
        put(store, b"k", b"new")                     # replaces: old is unlinked, not freed
        assert value(store, off) == b"old"
        assert store.slabs.classes[1].used_chunks == 2
        store.check_invariants()
    assert store.slabs.classes[1].used_chunks == 1
    store.check_invariants()


# ---- eviction: one test per branch of the 5-candidate rule -----------------------------------
def test_expired_tail_item_is_reclaimed():
    store = ItemStore(MB)
    put(store, b"dying", b"x" * 20, exptime=NOW + 1)
    for i in range(10921):
        put(store, b"k%d" % i, b"x" * 20)
    put(store, b"new", b"x" * 20, now=NOW + 2)
    stats = store.item_stats[1]
    assert stats.reclaimed == 1 and stats.evicted == 0 and stats.expired_unfetched == 1
    assert store.get(b"k0", NOW + 2) != NIL
    store.check_invariants()


def test_first_unpinned_of_the_five_is_evicted():
    store = full_class_store()
    with store.pin_set() as pins:
        for i in range(3):
            pins.add(store.index[b"k%d" % i])
        put(store, b"new", b"x" * 20)
        assert store.get(b"k3", NOW) == NIL               # the 4th from the tail went
        assert all(store.get(b"k%d" % i, NOW, bump=False) != NIL for i in range(3))
        s = store.item_stats[1]
        assert s.evicted == 1 and s.evicted_unfetched == 1
        # memcached's alloc loop walks the tail three times (reclaim pass, evict pass, reclaim
        # pass before the retry), meeting the 3 pinned items each time.
        assert s.lrutail_reflocked == 9
        store.check_invariants()


def test_five_pinned_tail_items_fail_although_others_could_go():
    store = full_class_store()
    with store.pin_set() as pins:
        for i in range(5):
            pins.add(store.index[b"k%d" % i])
        with pytest.raises(OutOfMemory):
            store.reserve(b"new", 0, 0, 20, NOW)
        assert store.item_stats[1].outofmemory == 1 and store.item_stats[1].evicted == 0
        assert store.get(b"k5", NOW, bump=False) != NIL    # unpinned, but beyond the 5
        store.check_invariants()
    put(store, b"new", b"x" * 20)                          # pins gone: allocation succeeds
    assert store.get(b"k0", NOW) == NIL and store.item_stats[1].evicted == 1
    store.check_invariants()


def test_dash_M_fails_without_evicting():
    store = full_class_store(evictions=False)
    with pytest.raises(OutOfMemory):
        store.reserve(b"new", 0, 0, 20, NOW)
    assert store.item_stats[1].evicted == 0 and store.curr_items == 10922


def test_dash_M_still_reclaims_expired_tail_items():
    store = ItemStore(MB, evictions=False)
    put(store, b"dying", b"x" * 20, exptime=NOW + 1)
    for i in range(10921):
        put(store, b"k%d" % i, b"x" * 20)
    put(store, b"new", b"x" * 20, now=NOW + 5)
    assert store.item_stats[1].reclaimed == 1


def test_every_class_gets_a_first_page_past_the_limit():
    store = full_class_store()
    put(store, b"bigger", b"y" * 500)                      # class 6: its first page is granted
    assert store.arena.pages_used == 2 and store.curr_items == 10923


def test_read_bumps_at_most_once_a_minute():
    store = full_class_store()
    store.get(b"k0", NOW + 30)                             # too soon: no bump
    assert store.lru.tails[1] == store.index[b"k0"]
    store.get(b"k0", NOW + 61)                             # a minute later: to the head
    assert store.lru.heads[1] == store.index[b"k0"]
    store.check_invariants()
