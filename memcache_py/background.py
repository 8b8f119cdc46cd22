"""Background tasks: memcached's maintenance threads as supervised coroutines on the loop.

`TaskRunner` starts each task body and, if a body raises, logs the traceback and starts it
again after a pause: a mover or automove bug never takes the daemon down. `stop()` cancels
them all (SIGTERM, shutdown). Each task's work is a synchronous step between awaits, so a step
is atomic with respect to every request, as a cache operation is.

The tasks with `-o slab_reassign`:
  mover     runs the page mover (allocator/pagemover.py) while a move is in progress: one
            bounded step per loop turn, and when the page holds busy (pinned) items, a pause
            doubling from 1 us to 1 ms between steps (slab_rebalance_thread's backoff);
  automove  once a second with `slab_automove 1`, memcached's decision (allocator/automove.py)
            over the classes' samples; a page returned to the pool re-runs it after 1 ms.
The LRU crawler's tasks (allocator/crawler.py), with the crawler enabled:
  crawler   runs a crawl while one is in progress: CRAWL_STEP items per loop turn, a pause of
            `lru_crawler_sleep` us every 1000 items (crawls_persleep), and while a metadump's
            client has not read its buffer, a poll every CRAWL_POLL seconds;
  autocrawl once a second, with the LRU maintainer on (memcached schedules from that
            thread), AutoCrawl's choice of the lists whose items are due to expire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from allocator.automove import Automove, sample_store

log = logging.getLogger("memcache_py")

RESTART_SECONDS = 1.0          # pause before a failed task body runs again
BACKOFF_MIN = 1e-6             # memcached's backoff_timer: 1 us ...
BACKOFF_MAX = 1e-3             # ... doubling up to 1 ms
AUTOMOVE_SECONDS = 1.0         # slab_automove_run: at most once a second
AUTOMOVE_RECLAIM_SECONDS = 1e-3  # after a page went to the pool: be more aggressive
CRAWL_STEP = 100               # items a crawler step visits (~0.1 ms of the loop)
CRAWLS_PERSLEEP = 1000         # memcached's settings.crawls_persleep
CRAWL_POLL = 1e-3              # a metadump's client buffer is full: look again after this
AUTOCRAWL_SECONDS = 1.0        # lru_maintainer_crawler_check: at most once a second


class TaskRunner:
    """Supervised background tasks of one daemon."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task] = {}
        self.restarts = 0

    def start(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        self.tasks[name] = asyncio.get_running_loop().create_task(self._supervise(name, body))

    async def _supervise(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts += 1
                log.exception("background task %s failed; restarting it", name)
                await asyncio.sleep(RESTART_SECONDS)

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()


def start_slab_tasks(runner: TaskRunner, daemon) -> None:
    """The page mover and automove tasks, when the daemon has a mover."""
    if daemon.slabs.mover is None:
        return
    wakeup = asyncio.Event()
    daemon.slabs.wake = wakeup.set
    runner.start("mover", lambda: run_mover(daemon, wakeup))
    runner.start("automove", lambda: run_automove(daemon))


async def run_mover(daemon, wakeup: asyncio.Event) -> None:
    """Drive the page mover: a step per loop turn while a move runs, else wait to be woken."""
    mover, clock = daemon.slabs.mover, daemon.clock
    backoff = BACKOFF_MIN
    while True:
        if not mover.running:
            wakeup.clear()
            if not mover.running:
                await wakeup.wait()
            backoff = BACKOFF_MIN
            continue
        if mover.step(clock.current):
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        else:
            backoff = BACKOFF_MIN
            await asyncio.sleep(0)


def automove_tick(daemon, state: list) -> float:
    """One automove decision; returns how long to wait before the next. `state` holds the
    Automove instance, remade when the ratio changes (as lru_maintainer_thread does)."""
    store, now, slabs = daemon.cache.store, daemon.clock.current, daemon.slabs
    if slabs.automove != 1:
        state.clear()
        return AUTOMOVE_SECONDS
    am = state[0] if state else None
    if am is None or am.ratio != slabs.ratio:
        am = Automove(slabs.window, slabs.ratio, sample_store(store, now))
        state[:] = [am]
    src, dst = am.run(sample_store(store, now))
    if src != -1 and dst != -1:
        slabs.reassign(src, dst)
    return AUTOMOVE_RECLAIM_SECONDS if dst == 0 else AUTOMOVE_SECONDS


async def run_automove(daemon) -> None:
    state: list = []
    while True:
        await asyncio.sleep(automove_tick(daemon, state))


def start_crawler_tasks(runner: TaskRunner, daemon) -> None:
    """The crawler's task, and the autoscheduler's when the LRU maintainer is on."""
    ctl = daemon.crawler
    wakeup = asyncio.Event()
    ctl.wake = wakeup.set
    runner.start("crawler", lambda: run_crawler(daemon, wakeup))
    if ctl.auto is not None:
        runner.start("autocrawl", lambda: run_autocrawl(daemon))


class CrawlPace:
    """How long the crawler's task waits between steps (crawls_persleep and the sleep)."""

    def __init__(self) -> None:
        self.since_sleep = 0

    def after_step(self, daemon, visited: int) -> float | None:
        """Seconds to wait before the next step; None when no crawl is left to run."""
        ctl = daemon.crawler
        crawler = ctl.crawler
        if not crawler.running:
            self.since_sleep = 0
            return None
        if crawler.blocked():
            return CRAWL_POLL
        self.since_sleep += visited
        if self.since_sleep >= CRAWLS_PERSLEEP and ctl.sleep:
            self.since_sleep = 0
            return ctl.sleep / 1e6
        return 0.0


def crawler_tick(daemon, pace: CrawlPace) -> float | None:
    """One bounded crawler step; how long to wait before the next (None: wait to be woken)."""
    crawler = daemon.crawler.crawler
    visited = crawler.step(daemon.clock.current, CRAWL_STEP) if crawler.running else 0
    return pace.after_step(daemon, visited)


async def run_crawler(daemon, wakeup: asyncio.Event) -> None:
    pace = CrawlPace()
    crawler = daemon.crawler.crawler
    while True:
        wait = crawler_tick(daemon, pace)
        if wait is None:
            wakeup.clear()
            if not crawler.running:
                await wakeup.wait()
        else:
            await asyncio.sleep(wait)


def autocrawl_tick(daemon) -> list[dict]:
    """lru_maintainer_crawler_check once: start a crawl of the lists that are due."""
    ctl = daemon.crawler
    if ctl.auto is None or not ctl.crawler.enabled:
        return []
    events = ctl.auto.check(daemon.clock.current, ctl.tocrawl)
    if ctl.crawler.running:
        ctl.wake()
    return events


async def run_autocrawl(daemon) -> None:
    while True:
        autocrawl_tick(daemon)
        await asyncio.sleep(AUTOCRAWL_SECONDS)
