"""Liveness: whether an item is dead at a given time (expired, or flushed by flush_all).

memcached's `item_is_flushed` and exptime rule (spec/slabs.md §6) in one place, read by the
lookup, the LRU tail walk and the crawler. Items are never found dead here and left in place:
the caller unlinks what this says is dead.
"""

from __future__ import annotations

from .item import CAS, TIME_MASK, TIMES


class Liveness:
    """flush_all's watermark plus the exptime test, over the arena's header words."""

    __slots__ = ("words", "cas_enabled", "oldest_live", "oldest_cas")

    def __init__(self, words: memoryview, cas_enabled: bool):
        self.words = words
        self.cas_enabled = cas_enabled
        self.oldest_live = 0        # flush_all: items last stored/bumped at or before are dead
        self.oldest_cas = 0         # flush_all now: items with a lower CAS id are dead too

    def is_flushed(self, off: int, now: int) -> bool:
        """memcached's item_is_flushed (spec/slabs.md §6)."""
        oldest = self.oldest_live
        if oldest == 0 or oldest > now:
            return False
        w = off >> 3
        words = self.words
        if words[w + TIMES] & TIME_MASK <= oldest:
            return True
        return bool(self.oldest_cas and self.cas_enabled
                    and 0 < words[w + CAS] < self.oldest_cas)

    def is_expired(self, off: int, now: int) -> bool:
        exptime = self.words[(off >> 3) + TIMES] >> 32
        return exptime != 0 and exptime <= now

    def is_dead(self, off: int, now: int) -> bool:
        """Dead for a lookup or the crawler: expired at `now`, or flushed."""
        return self.is_expired(off, now) or (self.oldest_live != 0 and self.is_flushed(off, now))

    def is_reclaimable(self, off: int, now: int) -> bool:
        """Dead for the LRU tail walk: memcached's lru_pull_tail tests `exptime < now`,
        one second later than a lookup's `exptime <= now`."""
        exptime = self.words[(off >> 3) + TIMES] >> 32
        return (exptime != 0 and exptime < now) or (self.oldest_live != 0
                                                    and self.is_flushed(off, now))

    def flush(self, oldest_live: int, next_cas: int | None) -> None:
        """Make every item last stored or bumped at or before `oldest_live` dead; with
        `next_cas` (an immediate flush), also every item whose CAS id is below it."""
        self.oldest_live = oldest_live
        self.oldest_cas = next_cas or 0
