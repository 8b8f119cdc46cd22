"""Automove: memcached 1.6.18's slab_automove.c decision, as a pure function of samples.

Once a second the daemon samples every class (`sample_store`) and hands the samples to
`Automove.run`, which keeps memcached's window of the last `window` seconds per class:
  - dirty: the class evicted, ran out of memory or gained pages that second;
  - evicted_ratio: its share of all evictions that second; evicted_seen: it evicted at all;
  - age: the age of its LRU tail item.
and answers (src, dst), (-1, -1) meaning "no move":
  1. a class with more than 2.5 pages' worth of free chunks and a clean window gives a page
     to the global pool (dst 0) at once;
  2. else, once the window has filled, a page goes from the oldest class (highest average
     age among those with more than 2 pages) to the youngest evicting class (lowest average
     age among those that evicted in more than half the window, or took more than 25% of
     the evictions), when the youngest age is under `ratio` x the oldest and the youngest
     evicted this very second.
No clock and no store inside `run`: tests feed it synthetic windows.
"""

from __future__ import annotations

from dataclasses import dataclass

from .item import NIL, TIME_MASK, TIMES

MIN_PAGES_FOR_SOURCE = 2
MIN_PAGES_FOR_RECLAIM = 2.5


@dataclass(frozen=True, slots=True)
class ClassSample:
    """What the algorithm reads of one class (item_stats_automove + slab_stats_automove)."""

    evicted: int = 0            # cumulative evictions
    outofmemory: int = 0        # cumulative out-of-memory answers
    age: int = 0                # seconds since the LRU tail item was last touched
    chunks_per_page: int = 0
    free_chunks: int = 0
    total_pages: int = 0


@dataclass(slots=True)
class _Slot:
    age: int = 0
    dirty: int = 0
    evicted_ratio: float = 0.0
    evicted_seen: int = 0


class Automove:
    """The window and the decision; one instance per (window, ratio), as memcached re-inits."""

    def __init__(self, window: int, ratio: float, first: list[ClassSample]):
        self.window = window
        self.ratio = ratio
        self.cur = 0
        self.before = list(first)          # memcached's dry run fills the "before" samples
        self.slots = [[_Slot() for _ in range(window)] for _ in first]

    def run(self, after: list[ClassSample]) -> tuple[int, int]:
        """One second's decision from this second's samples (index = class id, 0 unused)."""
        src = dst = -1
        oldest, oldest_age = -1, 0
        youngest, youngest_age, youngest_evicting = -1, None, False
        n_classes = min(len(after), len(self.before))
        evicted_total = sum(after[n].evicted - self.before[n].evicted
                            for n in range(1, n_classes))
        self.cur += 1
        for n in range(1, n_classes):
            a, b = after[n], self.before[n]
            slot = self.slots[n][self.cur % self.window]
            slot.age, slot.dirty, slot.evicted_ratio, slot.evicted_seen = a.age, 0, 0.0, 0
            delta = a.evicted - b.evicted
            if delta > 0:
                slot.evicted_ratio = delta / evicted_total
                slot.evicted_seen = 1
                slot.dirty = 1
            if a.outofmemory - b.outofmemory > 0 or a.total_pages - b.total_pages > 0:
                slot.dirty = 1
            window = self.slots[n]
            age = sum(s.age for s in window) // self.window
            dirty = sum(s.dirty for s in window)
            seen = sum(s.evicted_seen for s in window)
            ratio_sum = sum(s.evicted_ratio for s in window)
            if a.free_chunks > a.chunks_per_page * MIN_PAGES_FOR_RECLAIM and dirty == 0:
                src, dst = n, 0
                youngest = oldest = -1
                break
            if age > oldest_age and a.total_pages > MIN_PAGES_FOR_SOURCE:
                oldest, oldest_age = n, age
            if (youngest_age is None or age < youngest_age) and (
                    seen > self.window // 2 or ratio_sum / self.window > 0.25):
                youngest, youngest_age = n, age
                youngest_evicting = bool(slot.evicted_seen)
        self.before = list(after)
        if youngest != -1 and oldest != -1 and self.cur > self.window:
            if youngest_age < oldest_age * self.ratio and youngest_evicting:
                src, dst = oldest, youngest
        return src, dst


def sample_store(store, now: int) -> list[ClassSample]:
    """This second's samples of every class of an ItemStore (index 0 is the pool: empty)."""
    words, slabs = store.arena.words, store.slabs
    out = [ClassSample()]
    for cid in range(1, len(slabs.classes)):
        s = slabs.classes[cid]
        tail = store.lru.tails[cid]
        age = 0 if tail == NIL else now - (words[(tail >> 3) + TIMES] & TIME_MASK)
        st = store.item_stats[cid]
        out.append(ClassSample(st.evicted, st.outofmemory, max(age, 0), s.perslab,
                               s.free_chunks, s.total_pages))
    return out
