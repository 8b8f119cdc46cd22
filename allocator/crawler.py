"""The LRU crawler (memcached's crawler.c), walked a bounded number of items per step.

memcached links a pseudo-item at the tail of each LRU it crawls and moves it toward the head
in its own thread. Here a crawl keeps its place in each list in `LruList.cursors` (which
unlink and replace keep valid), and the daemon's background task calls `step()` between
requests, so every step is atomic with respect to every request.

Kinds of crawl (memcached's crawler modules):
  EXPIRED     `lru_crawler crawl`: unlink expired and flushed items;
  AUTOEXPIRE  the same, started by the autoscheduler (AutoCrawl below), whose TTL histogram
              of each list it fills;
  METADUMP    one call to the sink per live item (the daemon writes memcached's metadump line
              to a client); when the sink says it is full the step stops until it drains.
Per list, memcached's counters are added to the class when the list is done
(`lru_crawler_class_done`): crawler_items_checked, crawler_reclaimed, expired_unfetched.
A pinned item (a reply still reads it) is passed over, as memcached passes over an item whose
refcount it cannot take.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Protocol

from .item import ITEM_FETCHED, NIL, PREV, SIZES, TIMES
from .lru import LAST_CLASS_ID

EXPIRED, AUTOEXPIRE, METADUMP = "expired", "autoexpire", "metadump"
CAP_REMAINING = -1           # LRU_CRAWLER_CAP_REMAINING: as many items as the list holds now
STARTED, RUNNING, ERROR = "started", "running", "error"
MAX_MAINTCRAWL_WAIT = 3600   # items.c: every list is crawled at least once an hour
RETRY_WAIT = 5               # items.c: seconds added to every wait, and the retry minimum
BLOCK_AFTER_BUSY = 60        # crawler.c block_ae_until: no autocrawl for a minute after BUSY


class Sink(Protocol):
    """Where a metadump's lines go (the daemon's client connection)."""

    def ready(self) -> bool: ...          # room for another line
    def closed(self) -> bool: ...         # the client went away: the crawl is abandoned
    def item(self, off: int) -> None: ...  # one live item
    def flush(self) -> None: ...          # end of a step: hand the lines on
    def finish(self) -> None: ...         # the crawl is over: its last lines, then END


@dataclass
class ListStats:
    """memcached's crawlerstats_t for one LRU list: what its last crawl saw."""

    histo: list[int] = field(default_factory=lambda: [0] * 61)   # live items by TTL minute
    ttl_hourplus: int = 0
    noexp: int = 0
    reclaimed: int = 0
    seen: int = 0
    start_time: int = 0
    end_time: int = 0
    run_complete: bool = False


class _ListCrawl:
    """One list's part of a crawl (memcached's crawler pseudo-item and its counters)."""

    __slots__ = ("lid", "remaining", "checked", "reclaimed", "unfetched")

    def __init__(self, lid: int, remaining: int):
        self.lid = lid
        self.remaining = remaining     # memcached's: 0 = no cap, else the cap + 1
        self.checked = self.reclaimed = self.unfetched = 0


class Crawler:
    """One crawl at a time over the store's LRU lists; `step()` advances it.

    As crawler.c's thread does, a step takes one item from each list in turn, in list id
    order, so a dump of several lists interleaves them as memcached's does.
    """

    def __init__(self, store, enabled: bool = True):
        self.store = store
        self.enabled = enabled         # memcached's crawler thread exists (lru_crawler enable)
        self.starts = 0                # stats.lru_crawler_starts
        self.kind: str | None = None
        self.sink: Sink | None = None
        self.counting = True           # False for `metadump hash`: no per-class counters
        self.list_stats: dict[int, ListStats] | None = None   # AUTOEXPIRE's histograms
        self.lists: dict[int, _ListCrawl] = {}   # LRU id -> its crawl, while it runs
        self.order: list[int] = []     # their ids, ascending
        self.next_lid = 0              # the round robin's place
        self.block_ae_until = 0

    @property
    def running(self) -> bool:
        """stats_state.lru_crawler_running: some list is still being crawled."""
        return bool(self.lists)

    # ---- starting ----------------------------------------------------------------------
    def lru_ids(self, cids=None) -> list[int]:
        """The lists of these class ids (1..63), of all of them by default (memcached: each of
        TEMP, HOT, WARM, COLD of a class)."""
        if cids is None:
            cids = range(1, LAST_CLASS_ID + 1)
        return [lid for cid in cids for lid in self.store.lru_lists(cid)]

    def start(self, lru_ids: list[int] | None, remaining: int, kind: str, now: int,
              sink: Sink | None = None, list_stats: dict[int, ListStats] | None = None
              ) -> tuple[str, int]:
        """memcached's lru_crawler_start: (STARTED, lists started), (RUNNING, 0) when another
        crawl holds the crawler, (ERROR, 0) when the crawler is disabled. `lru_ids` None is
        `metadump hash`: every list, without counters."""
        if not self.enabled:
            return ERROR, 0
        if self.running and not (kind == AUTOEXPIRE and self.kind == AUTOEXPIRE):
            self.block_ae_until = now + BLOCK_AFTER_BUSY
            return RUNNING, 0
        if kind == AUTOEXPIRE and self.block_ae_until > now:
            return RUNNING, 0
        # memcached restarts only the lists that are done
        new = [lid for lid in (self.lru_ids() if lru_ids is None else lru_ids)
               if lid not in self.lists]
        if not new:
            return STARTED, 0
        if not self.running:
            self.kind, self.sink, self.counting = kind, sink, lru_ids is not None
            self.list_stats = list_stats if kind == AUTOEXPIRE else None
            if self.list_stats is not None:         # crawler_expired_init
                for lid in self.list_stats:
                    self.list_stats[lid] = ListStats(start_time=now)
        lru = self.store.lru
        for lid in new:
            n = lru.sizes[lid] if remaining == CAP_REMAINING else remaining
            self.lists[lid] = _ListCrawl(lid, n + 1 if n else 0)
            lru.cursors[lid] = lru.tails[lid]     # do_item_linktail_q
            if self.list_stats is not None:
                self.list_stats.setdefault(lid, ListStats(start_time=now))
        self.order = sorted(self.lists)
        self.starts += 1
        return STARTED, len(new)

    # ---- walking -----------------------------------------------------------------------
    def step(self, now: int, budget: int) -> int:
        """Visit at most `budget` items; the number visited. Returns early when the crawl is
        over or a metadump's sink is full (`blocked()`)."""
        store = self.store
        cursors, words, refs = store.lru.cursors, store.words, store.refs
        sink = self.sink
        visited = 0
        while visited < budget and self.lists:
            order = self.order
            if sink is not None:
                if sink.closed():
                    self._abandon(now)
                    break
                if not sink.ready():
                    break
            i = bisect_left(order, self.next_lid)
            lc = self.lists[order[i if i < len(order) else 0]]
            self.next_lid = lc.lid + 1
            off = cursors[lc.lid]
            if off == NIL or (lc.remaining and lc.remaining - 1 < 1):   # --remaining < 1
                self._list_done(lc, now)
                if not self.lists:
                    self._finish()
                continue
            if lc.remaining:
                lc.remaining -= 1
            cursors[lc.lid] = words[(off >> 3) + PREV]
            visited += 1
            if off in refs:                 # pinned: memcached's refcount_incr != 2
                continue
            lc.checked += 1
            if sink is None:
                self._expire(lc, off, now)
            else:
                self._dump(off, now, sink)
        if sink is not None:
            sink.flush()
        return visited

    def blocked(self) -> bool:
        """A metadump waits for its client to read."""
        return (self.running and self.sink is not None and not self.sink.closed()
                and not self.sink.ready())

    def _expire(self, lc: _ListCrawl, off: int, now: int) -> None:
        # crawler_expired_eval; note memcached's `exptime < current_time` here, where a
        # lookup counts an item dead at `exptime <= current_time`
        words = self.store.words
        exptime = words[(off >> 3) + TIMES] >> 32
        flushed = self.store.is_flushed(off, now)
        stats = self.list_stats.get(lc.lid) if self.list_stats is not None else None
        if (exptime and exptime < now) or flushed:
            lc.reclaimed += 1
            if stats is not None:
                stats.reclaimed += 1
            if not words[(off >> 3) + SIZES] & ITEM_FETCHED and not flushed:
                lc.unfetched += 1
            self.store.unlink(off)
        elif stats is not None:
            stats.seen += 1
            if exptime == 0:
                stats.noexp += 1
            elif exptime - now > 3599:
                stats.ttl_hourplus += 1
            else:
                stats.histo[(exptime - now) // 60] += 1

    def _dump(self, off: int, now: int, sink: Sink) -> None:
        # crawler_metadump_eval: expired and flushed items are left alone, not printed
        exptime = self.store.words[(off >> 3) + TIMES] >> 32
        if not (exptime and exptime < now) and not self.store.is_flushed(off, now):
            sink.item(off)

    def _list_done(self, lc: _ListCrawl, now: int) -> None:
        # lru_crawler_class_done
        lid = lc.lid
        self.store.lru.cursors[lid] = NIL
        del self.lists[lid]
        self.order.remove(lid)
        if self.counting and lc.checked:            # (reclaimed, unfetched <= checked)
            st = self.store.item_stats[lid & 63]    # CLEAR_LRU: the class id
            st.crawler_reclaimed += lc.reclaimed
            st.expired_unfetched += lc.unfetched
            st.crawler_items_checked += lc.checked
        if self.list_stats is not None and lid in self.list_stats:
            s = self.list_stats[lid]
            s.end_time = now
            s.run_complete = True

    def _abandon(self, now: int) -> None:
        # the metadump's client went away: every list is done, nothing more is written
        for lc in list(self.lists.values()):
            self._list_done(lc, now)
        self.sink = None
        self._finish()

    def _finish(self) -> None:
        # the last list is done (crawler.c's finalize)
        if self.sink is not None:
            self.sink.finish()
        self.kind = self.sink = self.list_stats = None
        self.next_lid = 0


class AutoCrawl:
    """items.c's lru_maintainer_crawler_check: when to crawl each list again.

    From the TTL histogram of a list's last crawl: if more than 1% of its expiring items will
    have expired within x minutes, move the wait 60 s toward x minutes; with nothing to reclaim
    within the hour wait 60 s longer; at most an hour. The next crawl is at now + wait + 5 s.
    `check(now)` runs at most once a second (the maintainer's loop); `events` collects the
    sysevent lines' fields of the lists it rescheduled.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.list_stats: dict[int, ListStats] = {}
        self.next_crawl: dict[int, int] = {}
        self.wait: dict[int, int] = {}

    def check(self, now: int, tocrawl: int) -> list[dict]:
        crawler, store = self.crawler, self.crawler.store
        events = []
        todo: list[int] = []
        limit = 0
        for lid in crawler.lru_ids():
            s = self.list_stats.get(lid)
            if s is not None and s.run_complete:
                possible = s.seen - s.noexp
                low_mark = possible // 100 + 1
                available = 0
                wait = self.wait.get(lid, 0)
                for x in range(60):
                    available += s.histo[x]
                    if available > low_mark:
                        if wait < x * 60:
                            wait += 60
                        elif wait >= 60:
                            wait -= 60
                        break
                if available == 0:
                    wait += 60
                wait = min(wait, MAX_MAINTCRAWL_WAIT)
                self.wait[lid] = wait
                self.next_crawl[lid] = now + wait + RETRY_WAIT
                events.append(dict(crawler=lid & 63, lru=lid, low_mark=low_mark,
                                   next_reclaims=available, since_run=now - s.end_time,
                                   next_run=wait + RETRY_WAIT,
                                   elapsed=s.end_time - s.start_time, examined=s.seen,
                                   reclaimed=s.reclaimed))
                s.run_complete = False
            if now > self.next_crawl.get(lid, 0):
                limit = max(limit, store.lru.sizes[lid])
                todo.append(lid)
                self.next_crawl[lid] = now + RETRY_WAIT
        if todo:
            if tocrawl and tocrawl < limit:
                limit = tocrawl
            crawler.start(todo, limit, AUTOEXPIRE, now, list_stats=self.list_stats)
        return events
