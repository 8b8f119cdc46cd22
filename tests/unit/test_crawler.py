"""The LRU crawler (allocator/crawler.py) stepped on a small arena, and its autoscheduler."""

import pytest

from allocator import NIL, AutoCrawl, Crawler, ItemStore
from allocator.crawler import AUTOEXPIRE, CAP_REMAINING, EXPIRED, METADUMP, RUNNING, STARTED

pytestmark = pytest.mark.unit

MB = 1 << 20
NOW = 100


def put(store, key, value=b"v", now=NOW, exptime=0):
    off = store.reserve(key, 0, exptime, len(value), now)
    for view in store.value_views(off):
        view[:] = (value + b"\r\n")[:len(view)]
    store.link(off, key)
    return off


class ListSink:
    def __init__(self, room=10**9):
        self.items, self.room, self.done, self.gone = [], room, False, False

    def ready(self):
        return len(self.items) < self.room

    def closed(self):
        return self.gone

    def item(self, off):
        self.items.append(off)

    def flush(self):
        pass

    def finish(self):
        self.done = True


def crawl_all(crawler, now, budget=3):
    while crawler.running:
        crawler.step(now, budget)


def test_a_crawl_reclaims_expired_and_counts_when_the_list_is_done():
    store = ItemStore(4 * MB)
    live = [put(store, b"live%d" % i) for i in range(5)]
    for i in range(7):
        put(store, b"dead%d" % i, exptime=NOW + 10)
    crawler = Crawler(store)
    cid = store.class_of(live[0])
    assert crawler.start(crawler.lru_ids([cid]), 0, EXPIRED, NOW + 20) == (STARTED, 1)
    crawler.step(NOW + 20, 4)
    assert crawler.running and store.item_stats[cid].crawler_items_checked == 0  # not yet
    crawl_all(crawler, NOW + 20)
    st = store.item_stats[cid]
    assert (st.crawler_items_checked, st.crawler_reclaimed, st.expired_unfetched) == (12, 7, 7)
    assert store.curr_items == 5 and store.lru.cursors[cid] == NIL
    store.check_invariants()


def test_items_unlinked_under_the_cursor_between_steps_are_not_lost():
    store = ItemStore(4 * MB)
    offs = [put(store, b"k%d" % i, exptime=NOW + 1) for i in range(20)]
    crawler = Crawler(store)
    cid = store.class_of(offs[0])
    crawler.start(crawler.lru_ids([cid]), 0, EXPIRED, NOW + 5)
    crawler.step(NOW + 5, 3)                    # k0..k2 reclaimed; the cursor is at k3
    store.unlink(offs[3])                       # a delete of the very item it stands on
    store.unlink(offs[10])
    crawl_all(crawler, NOW + 5)
    assert store.curr_items == 0
    assert store.item_stats[cid].crawler_reclaimed == 18
    store.check_invariants()


def test_pinned_items_are_passed_over():
    store = ItemStore(4 * MB)
    a = put(store, b"a", exptime=NOW + 1)
    put(store, b"b", exptime=NOW + 1)
    store.pin(a)
    crawler = Crawler(store)
    crawler.start(crawler.lru_ids([store.class_of(a)]), 0, EXPIRED, NOW + 5)
    crawl_all(crawler, NOW + 5)
    st = store.item_stats[store.class_of(a)]
    assert (st.crawler_items_checked, st.crawler_reclaimed, store.curr_items) == (1, 1, 1)
    store.unpin(a)


def test_tocrawl_caps_each_list_and_a_second_crawl_is_busy():
    store = ItemStore(4 * MB)
    offs = [put(store, b"k%d" % i) for i in range(10)]
    crawler = Crawler(store)
    lists = crawler.lru_ids([store.class_of(offs[0])])
    assert crawler.start(lists, 4, EXPIRED, NOW) == (STARTED, 1)
    assert crawler.start(lists, 0, EXPIRED, NOW) == (RUNNING, 0)
    crawl_all(crawler, NOW)
    assert store.item_stats[store.class_of(offs[0])].crawler_items_checked == 4
    assert crawler.starts == 1


def test_metadump_visits_live_items_oldest_first_and_waits_for_a_full_sink():
    store = ItemStore(4 * MB)
    offs = [put(store, b"k%d" % i) for i in range(6)]
    put(store, b"gone", exptime=NOW + 1)
    crawler = Crawler(store)
    sink = ListSink(room=2)
    crawler.start(crawler.lru_ids(), CAP_REMAINING, METADUMP, NOW + 5, sink)
    crawler.step(NOW + 5, 100)
    assert sink.items == offs[:2] and crawler.blocked()
    sink.room = 100
    crawl_all(crawler, NOW + 5)
    assert sink.items == offs and sink.done
    assert store.curr_items == 7                # a dump unlinks nothing


def test_a_metadump_whose_client_went_away_is_abandoned():
    store = ItemStore(4 * MB)
    for i in range(6):
        put(store, b"k%d" % i)
    crawler = Crawler(store)
    sink = ListSink(room=2)
    crawler.start(crawler.lru_ids(), CAP_REMAINING, METADUMP, NOW, sink)
    crawler.step(NOW, 100)
    sink.gone = True
    crawler.step(NOW, 100)
    assert not crawler.running and not sink.done and len(sink.items) == 2


def test_lists_are_walked_in_turn():
    store = ItemStore(4 * MB)
    small = [put(store, b"s%d" % i) for i in range(3)]
    big = [put(store, b"b%d" % i, b"x" * 500) for i in range(3)]
    crawler = Crawler(store)
    sink = ListSink()
    crawler.start(crawler.lru_ids(), CAP_REMAINING, METADUMP, NOW, sink)
    crawl_all(crawler, NOW)
    assert sink.items == [small[0], big[0], small[1], big[1], small[2], big[2]]


def test_autocrawl_crawls_everything_first_then_waits_by_the_ttl_histogram():
    store = ItemStore(4 * MB)
    offs = [put(store, b"k%d" % i, exptime=NOW + 30) for i in range(50)]
    crawler = Crawler(store)
    auto = AutoCrawl(crawler)
    auto.check(NOW, 0)
    assert crawler.running and crawler.kind == AUTOEXPIRE
    crawl_all(crawler, NOW)
    cid = store.class_of(offs[0])
    assert auto.list_stats[cid].seen == 50 and auto.list_stats[cid].histo[0] == 50
    events = auto.check(NOW + 1, 0)
    # everything expires within the first minute: the wait stays 0, next run in 5 s
    assert [e["next_run"] for e in events if e["lru"] == cid] == [5]
    assert not crawler.running
    auto.check(NOW + 6, 0)                      # due after NOW + 6, not at it
    assert not crawler.running
    auto.check(NOW + 7, 0)
    assert crawler.running
    crawl_all(crawler, NOW + 40)
    assert store.curr_items == 0


def test_autocrawl_waits_a_minute_longer_when_nothing_expires():
    store = ItemStore(4 * MB)
    put(store, b"k")
    crawler = Crawler(store)
    auto = AutoCrawl(crawler)
    auto.check(NOW, 0)
    crawl_all(crawler, NOW)
    events = auto.check(NOW + 1, 0)
    assert {e["next_run"] for e in events} == {65}


def test_a_disabled_crawler_starts_nothing():
    crawler = Crawler(ItemStore(4 * MB), enabled=False)
    assert crawler.start([1], 0, EXPIRED, NOW)[0] == "error"
