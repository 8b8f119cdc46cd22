"""crawl_class: the LRU crawler's pass over one class, reclaiming expired and flushed items.

Today it runs when asked (`lru_crawler crawl`); it walks a snapshot of the class's LRU, so
unlinking while walking is safe, and counts memcached's crawler_* stats.
"""

from __future__ import annotations


def crawl_class(store, cid: int, now: int) -> tuple[int, int]:
    """Unlink every dead item of class `cid`; (items checked, items reclaimed)."""
    checked = reclaimed = 0
    is_dead = store.liveness.is_dead
    for off in list(store.lru.iter_from_tail(cid)):
        checked += 1
        if is_dead(off, now):
            store.unlink(off)
            reclaimed += 1
    stats = store.item_stats[cid]
    stats.crawler_items_checked += checked
    stats.crawler_reclaimed += reclaimed
    return checked, reclaimed
