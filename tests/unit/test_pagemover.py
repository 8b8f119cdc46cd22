"""The page mover (allocator/pagemover.py) on small arenas: replies, rescues, expired and
pinned items, evictions when no chunk is free, chunked items, the global pool; the store's
invariants (with the moving page's rules) are checked after every step."""

import pytest

from allocator import NIL, ItemStore
from allocator import pagemover
from allocator.pagemover import PageMover, Reassign

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100


def put(store, key, size, exptime=0, flags=0, now=NOW):
    off = store.reserve(key, flags, exptime, size, now)
    store.write_value(off, value_of(key, size))
    store.link(off, key)
    return off


def value_of(key, size):
    return (key * (size // len(key) + 1))[:size]


def fill(store, n, size=100, prefix=b"k"):
    return [put(store, b"%s%d" % (prefix, i), size) for i in range(n)]


def run(store, mover, now=NOW, budget=512, limit=100_000):
    steps = 0
    while mover.running:
        mover.step(now, budget)
        store.check_invariants(mover)
        steps += 1
        assert steps < limit, "the move never finished"
    return steps


def counters(mover):
    return dict(mover.stats())


def test_reassign_replies():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    assert mover.reassign(4, 4) is Reassign.SAME
    assert mover.reassign(-1, 0) is Reassign.BADCLASS       # no class has 2 pages
    assert mover.reassign(70, 1) is Reassign.BADCLASS
    assert mover.reassign(1, -2) is Reassign.BADCLASS
    assert mover.reassign(4, 0) is Reassign.NOSPARE
    fill(store, 6000)                                        # class 4: two pages
    assert mover.reassign(4, 0) is Reassign.OK
    assert mover.reassign(4, 0) is Reassign.RUNNING
    assert counters(mover)["slab_reassign_running"] == 1
    run(store, mover)
    assert counters(mover)["slab_reassign_running"] == 0
    assert Reassign.RUNNING.value == "BUSY currently processing reassign request"
    assert Reassign.NOSPARE.value == "NOSPARE source class has no spare pages"


def test_pick_any_source_skips_the_destination_and_small_classes():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    fill(store, 6000)                                        # class 4 only has 2 pages
    cid = store.class_of(store.get(b"k1", NOW))
    assert mover.reassign(-1, cid) is Reassign.BADCLASS      # the only candidate is dst
    assert mover.reassign(-1, 0) is Reassign.OK and mover.src == cid


def test_rescued_items_keep_value_cas_flags_ttl_and_lru_place():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = [put(store, b"k%d" % i, 100, exptime=NOW + 1000 + i, flags=i) for i in range(12000)]
    cid = store.class_of(offs[0])
    for i in range(0, 12000, 2):
        store.unlink(offs[i])                                # half free: room for rescues
    before = {b"k%d" % i: (store.cas_of(offs[i]), store.flags_of(offs[i]),
                           store.times_of(offs[i])) for i in range(1, 12000, 2)}
    order = [store.key_of(o) for o in store.lru.iter_from_head(cid)]
    oldest = store.slabs.classes[cid].pages[0]
    assert mover.reassign(cid, 0) is Reassign.OK
    run(store, mover)
    assert store.slabs.pool == [oldest]
    assert store.slabs.classes[cid].total_pages == 2
    c = counters(mover)
    assert c["slabs_moved"] == 1 and c["slab_reassign_rescues"] == 2730
    assert c["slab_reassign_evictions_nomem"] == 0
    for key, (cas, flags, times) in before.items():
        off = store.get(key, NOW, bump=False)
        assert store.slabs.page_of(off) != oldest
        assert store.value_bytes(off) == value_of(key, 100)
        assert (store.cas_of(off), store.flags_of(off), store.times_of(off)) == (cas, flags,
                                                                                 times)
    assert [store.key_of(o) for o in store.lru.iter_from_head(cid)] == order


def test_pool_pages_are_taken_first_and_may_go_past_the_limit():
    store = ItemStore(4 * MB)
    mover = PageMover(store)
    offs = fill(store, 11000)                                # class 4: 3 pages
    for off in offs[:6000]:
        store.unlink(off)
    assert mover.reassign(4, 0) is Reassign.OK
    run(store, mover)
    malloced = store.arena.malloced
    pool_page = store.slabs.pool[0]
    put(store, b"big", 5000)                                 # a new class: from the pool
    assert store.slabs.pool == []
    assert store.slabs.page_of(store.get(b"big", NOW)) == pool_page
    assert store.arena.malloced == malloced
    store.check_invariants()


def test_page_to_another_class_and_from_the_pool():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = fill(store, 12000)
    for off in offs[:8000]:
        store.unlink(off)
    put(store, b"big", 5000)
    dst = store.class_of(store.get(b"big", NOW))
    assert mover.reassign(4, dst) is Reassign.OK
    run(store, mover)
    d = store.slabs.classes[dst]
    assert d.total_pages == 2 and d.free_chunks == 2 * d.perslab - 1
    assert mover.reassign(dst, 0) is Reassign.OK
    run(store, mover)
    assert mover.reassign(0, 4) is Reassign.NOSPARE           # one pool page: no spare
    assert len(store.slabs.pool) == 1


def test_expired_and_flushed_items_are_unlinked_not_rescued():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    for i in range(6000):
        put(store, b"k%d" % i, 100, exptime=NOW + 5 if i % 2 else 0)
    assert mover.reassign(4, 0) is Reassign.OK
    run(store, mover, now=NOW + 10)
    c = counters(mover)
    assert c["slab_reassign_rescues"] < 3000          # the live half of the first page only
    assert all(store.get(b"k%d" % i, NOW + 10) == NIL for i in range(1, 6000, 2))
    assert all(store.value_bytes(store.get(b"k%d" % i, NOW + 10)) == value_of(b"k%d" % i, 100)
               for i in range(0, 6000, 2))


def test_a_pinned_item_is_waited_for_never_copied():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = fill(store, 8000)
    pinned = offs[3]
    pins = store.pin_set()
    pins.add(pinned)
    view = store.value_views(pinned)[0]
    for off in offs[4000:]:
        store.unlink(off)
    assert mover.reassign(4, 0) is Reassign.OK
    for _ in range(5):                                       # five whole passes
        mover.step(NOW, budget=6000)
        store.check_invariants(mover)
    assert mover.running and counters(mover)["slab_reassign_busy_items"] > 0
    assert store.get(b"k3", NOW, bump=False) == pinned       # still the same chunk
    assert bytes(view[:-2]) == value_of(b"k3", 100)
    pins.release_all()
    run(store, mover)
    off = store.get(b"k3", NOW)
    assert off != pinned and store.value_bytes(off) == value_of(b"k3", 100)
    assert counters(mover)["slab_reassign_busy_deletes"] == 0


def test_an_item_pinned_for_ever_is_deleted_after_max_loops(monkeypatch):
    monkeypatch.setattr(pagemover, "SLAB_MOVE_MAX_LOOPS", 2)
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = fill(store, 8000)
    pins = store.pin_set()
    pins.add(offs[3])
    assert mover.reassign(4, 0) is Reassign.OK
    for _ in range(6):
        mover.step(NOW, budget=6000)
        store.check_invariants(mover)
    assert counters(mover)["slab_reassign_busy_deletes"] == 1
    assert store.get(b"k3", NOW) == NIL
    assert mover.running                                     # its chunk is still read
    pins.release_all()
    run(store, mover)
    assert counters(mover)["slabs_moved"] == 1


def test_no_free_chunk_evicts_the_lru_tail_counted_as_evictions_nomem():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    fill(store, 12000)                                       # 3 pages, 4383 chunks free
    assert mover.reassign(4, 0) is Reassign.OK
    run(store, mover)
    c = counters(mover)
    assert c["slab_reassign_evictions_nomem"] == 12000 - 2 * 5461
    assert store.item_stats[4].evicted == 0                  # not in `evictions` (1.6.18)
    # the least recently used keys went, the newest stayed
    assert store.get(b"k0", NOW) == NIL
    assert all(store.value_bytes(store.get(b"k%d" % i, NOW)) == value_of(b"k%d" % i, 100)
               for i in range(12000 - 10000, 12000))


def test_inline_reclaim_counts_chunks_of_the_page_met_by_a_rescue():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = fill(store, 6000)
    # free chunks at the end of the first page, pushed last: the free list's head
    for off in offs[5000:5461]:
        store.unlink(off)
    assert mover.reassign(4, 0) is Reassign.OK
    run(store, mover)
    c = counters(mover)
    assert c["slab_reassign_inline_reclaim"] > 0
    assert c["slab_reassign_evictions_nomem"] > 0            # 539 free chunks outside only


def test_chunked_items_move_head_and_chain():
    store = ItemStore(4 * MB, slab_chunk_max=16 * 1024, item_size_max=MB)
    mover = PageMover(store)
    largest = len(store.classes)
    keys = [b"big%d" % i for i in range(60)]
    for key in keys:
        put(store, key, 40_000)                              # 3 chunks of 16 KB each
    for key in keys[::2]:
        store.unlink(store.get(key, NOW))
    assert store.slabs.classes[largest].total_pages >= 2
    assert mover.reassign(largest, 0) is Reassign.OK
    run(store, mover, budget=4)
    c = counters(mover)
    assert c["slab_reassign_rescues"] > 0 and c["slab_reassign_chunk_rescues"] > 0
    for key in keys[1::2]:
        off = store.get(key, NOW)
        assert store.value_bytes(off) == value_of(key, 40_000)
    store.check_invariants()


def test_the_cutting_page_with_never_used_chunks_can_move():
    store = ItemStore(8 * MB)
    mover = PageMover(store)
    offs = fill(store, 6000)
    for off in offs[:5461]:
        store.unlink(off)
    assert mover.reassign(4, 0) is Reassign.OK
    run(store, mover)
    # page 2 took the free list's chunks of page 1: now move the page still being cut
    assert mover.reassign(4, 12) is Reassign.NOSPARE
    fill(store, 6000, prefix=b"n")
    assert mover.reassign(4, 12) is Reassign.OK
    run(store, mover)
    store.check_invariants()
