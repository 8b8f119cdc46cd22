"""memcache_py/background.py: a failing task body is logged with its traceback and restarted;
the mover task finishes a move it is woken for; automove's tick asks for the move its
decision names; stop() ends every task."""

import asyncio
import dataclasses
import logging

import pytest

from memcache_py import background
from memcache_py.clock import FakeClock
from memcache_py.server import build_daemon
from memcache_py.settings import Settings

pytestmark = pytest.mark.unit

MB = 1 << 20


def make_daemon(**kw):
    kw = {"memory_limit": 8 * MB, **kw}
    settings = dataclasses.replace(Settings(), slab_reassign=True, **kw)
    return build_daemon(settings, FakeClock())


def fill(daemon, n, size=100, prefix=b"k"):
    store, now = daemon.cache.store, daemon.clock.current
    for i in range(n):
        key = b"%s%d" % (prefix, i)
        off = store.reserve(key, 0, 0, size, now)
        store.write_value(off, b"x" * size)
        store.link(off, key)


def test_a_failing_body_is_logged_and_restarted(monkeypatch, caplog):
    monkeypatch.setattr(background, "RESTART_SECONDS", 0)
    runs = []

    async def body():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("mover bug")

    async def main():
        runner = background.TaskRunner()
        runner.start("t", body)
        for _ in range(50):
            await asyncio.sleep(0)
        await runner.stop()
        return runner.restarts

    with caplog.at_level(logging.ERROR, logger="memcache_py"):
        assert asyncio.run(main()) == 2
    assert len(runs) == 3
    failed = [r for r in caplog.records if "background task t failed" in r.getMessage()]
    assert len(failed) == 2 and all(r.exc_info for r in failed)


def test_the_mover_task_runs_a_move_it_is_woken_for_and_stops():
    daemon = make_daemon()
    fill(daemon, 6000)

    async def main():
        runner = background.TaskRunner()
        background.start_slab_tasks(runner, daemon)
        await asyncio.sleep(0)
        assert daemon.slabs.reassign(4, 0).name == "OK"
        for _ in range(2000):
            if not daemon.slabs.mover.running:
                break
            await asyncio.sleep(0)
        await runner.stop()
        return runner

    runner = asyncio.run(main())
    assert daemon.slabs.mover.slabs_moved == 1 and runner.tasks == {}
    daemon.cache.store.check_invariants(daemon.slabs.mover)


def test_no_tasks_without_slab_reassign():
    daemon = build_daemon(Settings(slab_reassign=False), FakeClock())
    assert daemon.slabs.mover is None

    async def main():
        runner = background.TaskRunner()
        background.start_slab_tasks(runner, daemon)
        return dict(runner.tasks)

    assert asyncio.run(main()) == {}


def test_automove_tick_returns_free_pages_to_the_pool():
    daemon = make_daemon(slab_automove=1, slab_automove_window=3)
    store = daemon.cache.store
    fill(daemon, 16000)
    for i in range(16000):
        store.unlink(store.get(b"k%d" % i, daemon.clock.current))
    state = []
    # the window starts clean (memcached callocs it), so the first decision already moves
    assert background.automove_tick(daemon, state) == background.AUTOMOVE_RECLAIM_SECONDS
    assert daemon.slabs.mover.running and daemon.slabs.mover.dst == 0
    while daemon.slabs.mover.running:
        daemon.slabs.mover.step(daemon.clock.current, 1000)
    # two pages of free chunks left: not more than 2.5 pages' worth, so no more moves
    assert background.automove_tick(daemon, state) == background.AUTOMOVE_SECONDS
    assert daemon.slabs.mover.slabs_moved == 1 and not daemon.slabs.mover.running


def test_automove_tick_waits_for_a_dirty_window():
    daemon = make_daemon(slab_automove=1, slab_automove_window=3)
    state = []
    background.automove_tick(daemon, state)         # the dry run, before any page
    fill(daemon, 16000)                              # class 4 gains pages: dirty
    store = daemon.cache.store
    for i in range(16000):
        store.unlink(store.get(b"k%d" % i, daemon.clock.current))
    waits = []
    for _ in range(4):
        daemon.clock.advance(1)
        waits.append(background.automove_tick(daemon, state))
    assert waits == [background.AUTOMOVE_SECONDS] * 3 + [background.AUTOMOVE_RECLAIM_SECONDS]


def test_automove_mode_two_asks_for_a_page_on_every_eviction():
    daemon = make_daemon(slab_automove=2, memory_limit=2 * MB)
    store = daemon.cache.store
    fill(daemon, 10000)                                 # class 4 takes both pages of -m 2
    assert store.slabs.classes[4].total_pages == 2 and not daemon.slabs.mover.running
    fill(daemon, 300, size=5000, prefix=b"big")         # its own first page, then evictions
    big = store.class_of(store.get(b"big299", daemon.clock.current))
    assert store.item_stats[big].evicted > 0
    assert daemon.slabs.mover.running and (daemon.slabs.mover.src, daemon.slabs.mover.dst) == (4, big)


def test_the_crawler_tick_steps_a_crawl_to_its_end_and_pauses_per_1000_items():
    d = make_daemon(lru_crawler_sleep=200)
    fill(d, 2500)
    crawler = d.crawler.crawler
    store = d.cache.store
    cid = store.class_of(store.index[b"k0"])
    assert background.crawler_tick(d, background.CrawlPace()) is None      # idle
    crawler.start(crawler.lru_ids([cid]), 0, "expired", d.clock.current)
    pace, waits = background.CrawlPace(), []
    while (wait := background.crawler_tick(d, pace)) is not None:
        waits.append(wait)
    assert store.item_stats[cid].crawler_items_checked == 2500
    assert waits.count(200e-6) == 2 and set(waits) == {0.0, 200e-6}   # after 1000 and 2000
    assert len(waits) >= 2500 // background.CRAWL_STEP


def test_autocrawl_tick_starts_a_crawl_only_with_the_maintainer_and_an_enabled_crawler():
    for kw, starts in (({}, 1), ({"lru_maintainer": False}, 0), ({"lru_crawler": False}, 0)):
        d = make_daemon(**kw)
        woken = []
        d.crawler.wake = lambda: woken.append(1)
        background.autocrawl_tick(d)
        assert (d.crawler.crawler.starts, len(woken)) == (starts, starts)
