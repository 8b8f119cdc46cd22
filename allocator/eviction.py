"""TailPuller: the classic LRU tail walk, memcached's `lru_pull_tail` for a flat LRU.

Only this module decides which item dies when a class is full. It looks at no more than
`tries` (5) items from the tail of the class's LRU:
  - a pinned item (someone is receiving into it or sending from it) is skipped and counted
    as `lrutail_reflocked`: its chunk must not be reused;
  - an expired or flushed item is reclaimed (`reclaimed`) and the walk goes on;
  - the first live unpinned item stops the walk; it is evicted when `evict` is true and
    evictions are allowed (not `-M`), else left alone.
The caller (`ItemStore.alloc_chunk`) retries the allocation after a walk that removed something.
It is given the parts it reads (LRU, pins, liveness, counters) and the one action it takes
(`unlink`), not the whole store.
"""

from __future__ import annotations

from collections.abc import Callable

from .expiry import Liveness
from .item import ITEM_FETCHED, NIL, PREV, SIZES, TIME_MASK, TIMES
from .lru import LruList
from .pins import Pins
from .stats import ItemClassStats

TAIL_TRIES = 5          # memcached's `tries = 5` in lru_pull_tail / do_item_alloc


class TailPuller:
    """Reclaims and evicts from LRU tails of one store."""

    __slots__ = ("lru", "words", "refs", "liveness", "item_stats", "unlink", "evictions",
                 "on_evict", "on_evict_class")

    def __init__(self, lru: LruList, words: memoryview, pins: Pins, liveness: Liveness,
                 item_stats: list[ItemClassStats], unlink: Callable[[int], None],
                 evictions: bool):
        self.lru = lru
        self.words = words
        self.refs = pins.refs
        self.liveness = liveness
        self.item_stats = item_stats
        self.unlink = unlink            # takes a linked item out of the index and its LRU
        self.evictions = evictions      # False with -M
        self.on_evict: Callable[[int, int], None] | None = None   # told (off, now) of each
                                                                # eviction (`watch evictions`)
        self.on_evict_class: Callable[[int], None] | None = None   # told the class id after
                                                                # each eviction (automove 2)

    def pull_tail(self, cid: int, now: int, evict: bool, tries: int = TAIL_TRIES) -> int:
        """Walk the tail of class `cid`; return how many items were removed."""
        words, refs, liveness = self.words, self.refs, self.liveness
        stats = self.item_stats[cid]
        off = self.lru.tails[cid]
        removed = 0
        while tries > 0 and off != NIL:
            tries -= 1
            w = off >> 3
            prev = words[w + PREV]              # read before the item may be unlinked
            # Step 1: an item in use keeps its chunk; skip it.
            if off in refs:
                stats.lrutail_reflocked += 1
                off = prev
                continue
            times = words[w + TIMES]
            sizes = words[w + SIZES]
            # Step 2: dead items are reclaimed whatever `evict` says, and the walk goes on.
            # (Liveness.is_reclaimable, inlined: the walk runs on every allocation and looks at
            # up to 5 items; a call each cost a set 4% in callgrind. test_inline_copies.py
            # holds this copy to the definition.)
            exptime = times >> 32
            if (exptime != 0 and exptime < now) or (liveness.oldest_live
                                                    and liveness.is_flushed(off, now)):
                stats.reclaimed += 1
                if not sizes & ITEM_FETCHED:
                    stats.expired_unfetched += 1
                self.unlink(off)
                removed += 1
                off = prev
                continue
            # Step 3: the first live, unpinned item ends the walk: evict it if we may.
            if evict and self.evictions:
                stats.evicted += 1
                stats.evicted_time = now - (times & TIME_MASK)
                if exptime != 0:
                    stats.evicted_nonzero += 1
                if not sizes & ITEM_FETCHED:
                    stats.evicted_unfetched += 1
                if self.on_evict is not None:
                    self.on_evict(off, now)
                self.unlink(off)
                removed += 1
                if self.on_evict_class is not None:
                    self.on_evict_class(cid)
            break
        return removed
