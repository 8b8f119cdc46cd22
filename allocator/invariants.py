"""check_store: memcached's asserts over a whole ItemStore, made executable.

Hypothesis stateful tests call it after every step. It reads the store's rooms and imports
none of them, so nothing here can close an import cycle.
"""

from __future__ import annotations

from .item import ITEM_FREE, ITEM_LINKED, NIL, PREV, SIZES


def check_store(store, mover=None) -> None:
    """Raise AssertionError on any inconsistency between index, LRUs, free lists and pins;
    with `mover` (a PageMover), also the rules of the page it is emptying."""
    words = store.arena.words
    slabs = store.slabs
    linked = 0
    held_by_mover = check_pages(store, mover)
    chain_chunks = {c: 0 for c in range(len(slabs.classes))}
    for head, extra in store.chains.items():
        chain_chunks[slabs.class_of(head)] += len(extra)
    for cid in range(1, len(slabs.classes)):
        s = slabs.classes[cid]
        free = slabs.free_list(cid)
        assert len(free) == s.free_count, f"class {cid}: free list length != count"
        back = NIL
        for off in free:                      # doubly linked: PREV walks it back
            assert words[(off >> 3) + PREV] == back, f"class {cid}: free chunk {off} PREV"
            back = off
        for off in free:
            assert off not in store.refs, f"pinned chunk {off} on the free list"
            assert words[(off >> 3) + SIZES] & ITEM_FREE, f"free chunk {off} not marked"
            assert slabs.class_of(off) == cid
        lru = store.lru.check(cid)
        for off in lru:
            sizes = words[(off >> 3) + SIZES]
            assert sizes & ITEM_LINKED, f"unlinked item {off} in LRU {cid}"
            assert store.index.get(store.key_of(off)) == off, f"LRU item {off} not indexed"
            assert slabs.class_of(off) == cid
        linked += len(lru)
        held = sum(1 for off in store.refs if slabs.class_of(off) == cid
                   and not words[(off >> 3) + SIZES] & ITEM_LINKED)
        assert s.free_chunks + s.used_chunks == s.total_chunks
        in_use = len(lru) + held + chain_chunks[cid] + held_by_mover.get(cid, 0)
        assert s.used_chunks == in_use, (
            f"class {cid}: used {s.used_chunks} != linked {len(lru)} + pinned-unlinked "
            f"{held} + chained {chain_chunks[cid]} + mover {held_by_mover.get(cid, 0)}")
    assert linked == len(store.index) == store.curr_items, "index, LRUs and curr_items disagree"
    assert len(store.index.offsets()) == linked, "index holds offsets the LRUs do not"
    for off, n in store.refs.items():
        assert n > 0 and not words[(off >> 3) + SIZES] & ITEM_FREE
    for head, extra in store.chains.items():
        for c in extra:
            assert store.chain_head[c] == head, f"chain chunk {c} not mapped to {head}"
    assert len(store.chain_head) == sum(len(e) for e in store.chains.values())


def check_pages(store, mover=None) -> dict[int, int]:
    """Pages: each owned by one class or the global pool, pool pages empty; the page being
    moved has every chunk free, linked, a chain's, pinned (waited for) or done with.
    Returns the chunks the mover holds, by class."""
    slabs = store.slabs
    words = store.arena.words
    shift = slabs.page_shift
    owned = list(slabs.pool)
    for cid in range(1, len(slabs.classes)):
        for page in slabs.classes[cid].pages:
            assert slabs.page_class[page >> shift] == cid, f"page {page} not marked {cid}"
        owned += slabs.classes[cid].pages
    assert len(owned) == len(set(owned)) == store.arena.pages_used, "pages lost or shared"
    pool = set(slabs.pool)
    for page in pool:
        assert slabs.page_class[page >> shift] == 0, f"pool page {page} marked as a class's"
    for off in list(store.refs) + store.index.offsets() + list(store.chain_head):
        assert (off >> shift) << shift not in pool, f"chunk {off} in use in a pool page"
    if mover is None or not mover.running or mover.src == 0:
        return {}
    s = slabs.classes[mover.src]
    free = set(slabs.free_list(mover.src))
    done = 0
    for i in range(s.perslab):
        off = mover.page + i * s.chunk_size
        if mover.completed[i]:
            done += 1
            assert off not in free and off not in store.refs and off not in store.chain_head
            assert words[(off >> 3) + SIZES] & ITEM_FREE, f"moved chunk {off} not marked"
            continue
        if off in store.chain_head or off in free or off in store.refs:
            continue
        assert words[(off >> 3) + SIZES] & ITEM_LINKED, f"chunk {off} of the moving page lost"
        assert store.index.get(store.key_of(off)) == off
    return {mover.src: done}
