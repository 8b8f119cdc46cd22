"""check_store: memcached's asserts over a whole ItemStore, made executable.

Hypothesis stateful tests call it after every step. It reads the store's rooms and imports
none of them, so nothing here can close an import cycle.
"""

from __future__ import annotations

from .item import ITEM_FREE, ITEM_LINKED, SIZES


def check_store(store) -> None:
    """Raise AssertionError on any inconsistency between index, LRUs, free lists and pins."""
    words = store.arena.words
    slabs = store.slabs
    linked = 0
    chain_chunks = {c: 0 for c in range(len(slabs.classes))}
    for head, extra in store.chains.items():
        chain_chunks[slabs.class_of(head)] += len(extra)
    for cid in range(1, len(slabs.classes)):
        s = slabs.classes[cid]
        free = slabs.free_list(cid)
        assert len(free) == s.free_count, f"class {cid}: free list length != count"
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
        in_use = len(lru) + held + chain_chunks[cid]
        assert s.used_chunks == in_use, (
            f"class {cid}: used {s.used_chunks} != linked {len(lru)} + pinned-unlinked "
            f"{held} + chained {chain_chunks[cid]}")
    assert linked == len(store.index) == store.curr_items, "index, LRUs and curr_items disagree"
    assert len(store.index.offsets()) == linked, "index holds offsets the LRUs do not"
    for off, n in store.refs.items():
        assert n > 0 and not words[(off >> 3) + SIZES] & ITEM_FREE
