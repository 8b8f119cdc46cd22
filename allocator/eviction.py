"""The classic LRU tail walk: memcached's `lru_pull_tail` for a flat LRU.

Only this module decides which item dies when a class is full. It looks at no more than
`tries` (5) items from the tail of the class's LRU:
  - a pinned item (someone is receiving into it or sending from it) is skipped and counted
    as `lrutail_reflocked`: its chunk must not be reused;
  - an expired or flushed item is reclaimed (`reclaimed`) and the walk goes on;
  - the first live unpinned item stops the walk; it is evicted when `evict` is true and the
    store allows evictions (not `-M`), else left alone.
The caller (`ItemStore.alloc_chunk`) retries the allocation after a walk that removed something.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .item import ITEM_FETCHED, NIL, PREV, SIZES, TIME_MASK, TIMES

if TYPE_CHECKING:
    from .store import ItemStore

TAIL_TRIES = 5          # memcached's `tries = 5` in lru_pull_tail / do_item_alloc


def pull_tail(store: ItemStore, cid: int, now: int, evict: bool, tries: int = TAIL_TRIES) -> int:
    """Walk the tail of class `cid`; return how many items were removed."""
    words = store.arena.words
    stats = store.item_stats[cid]
    off = store.lru.tails[cid]
    removed = 0
    while tries > 0 and off != NIL:
        tries -= 1
        w = off >> 3
        prev = words[w + PREV]              # read before the item may be unlinked
        # Step 1: an item in use keeps its chunk; skip it.
        if off in store.refs:
            stats.lrutail_reflocked += 1
            off = prev
            continue
        times = words[w + TIMES]
        sizes = words[w + SIZES]
        exptime = times >> 32
        # Step 2: dead items are reclaimed whatever `evict` says, and the walk goes on.
        if (exptime != 0 and exptime < now) or (store.oldest_live and store.is_flushed(off, now)):
            stats.reclaimed += 1
            if not sizes & ITEM_FETCHED:
                stats.expired_unfetched += 1
            store.unlink(off)
            removed += 1
            off = prev
            continue
        # Step 3: the first live, unpinned item ends the walk: evict it if we may.
        if evict and store.evictions:
            stats.evicted += 1
            stats.evicted_time = now - (times & TIME_MASK)
            if exptime != 0:
                stats.evicted_nonzero += 1
            if not sizes & ITEM_FETCHED:
                stats.evicted_unfetched += 1
            if store.on_evict is not None:     # `watch evictions`
                store.on_evict(off, now)
            store.unlink(off)
            removed += 1
        break
    return removed
