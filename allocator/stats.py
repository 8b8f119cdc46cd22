"""Per-class counters with memcached's names, for `stats items` and `stats slabs`.

Counters the allocator itself moves (evictions, reclaims, out-of-memory) sit beside those the
daemon moves per class (hits, sets). Dead counters stay at zero rather than disappear, as
memcached keeps `free_chunks_end` and `tailrepairs`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(slots=True)
class ItemClassStats:
    """`stats items` counters of one class (`itemstats_t`), in memcached's flat-LRU order."""

    evicted: int = 0
    evicted_nonzero: int = 0      # evicted items that had an exptime
    evicted_time: int = 0         # seconds since last access of the last evicted item
    outofmemory: int = 0
    tailrepairs: int = 0          # never: we do not force-free refcount-stuck items
    reclaimed: int = 0            # expired/flushed items whose chunk was reused at the tail
    expired_unfetched: int = 0
    evicted_unfetched: int = 0
    crawler_reclaimed: int = 0    # no crawler: stays 0
    crawler_items_checked: int = 0
    lrutail_reflocked: int = 0    # pinned items met at the LRU tail

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)


@dataclass(slots=True)
class SlabClassCounters:
    """`stats slabs` per-class command counters, moved by the daemon."""

    get_hits: int = 0
    cmd_set: int = 0
    delete_hits: int = 0
    incr_hits: int = 0
    decr_hits: int = 0
    cas_hits: int = 0
    cas_badval: int = 0
    touch_hits: int = 0

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)
