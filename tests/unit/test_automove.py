"""The automove decision (allocator/automove.py) fed synthetic windows, second by second."""

import pytest

from allocator import ItemStore
from allocator.automove import Automove, ClassSample, sample_store

pytestmark = pytest.mark.unit

PER_PAGE = 1000


def samples(**classes):
    """Class id -> ClassSample; classes given as c<N>=dict(...) fields."""
    out = [ClassSample() for _ in range(6)]
    for name, fields in classes.items():
        out[int(name[1:])] = ClassSample(chunks_per_page=PER_PAGE, **fields)
    return out


def feed(am, seconds, make):
    """Run `seconds` decisions, sample t given by make(t); the decisions in order."""
    return [am.run(make(t)) for t in range(1, seconds + 1)]


def test_too_much_free_space_goes_to_the_pool_at_once():
    first = samples(c1=dict(total_pages=5, free_chunks=2600))
    am = Automove(window=3, ratio=0.8, first=first)
    assert am.run(first) == (1, 0)          # 2600 > 2.5 pages' worth and a clean window


def test_free_space_waits_for_a_clean_window():
    first = samples(c1=dict(total_pages=5, free_chunks=2600))
    am = Automove(window=3, ratio=0.8, first=first)
    dirty = samples(c1=dict(total_pages=6, free_chunks=2600))   # it gained a page: dirty
    assert am.run(dirty) == (-1, -1)
    assert am.run(dirty) == (-1, -1)        # pages unchanged since, but the window is dirty
    assert am.run(dirty) == (-1, -1)
    assert am.run(dirty) == (1, 0)          # three clean seconds since


def test_free_space_at_exactly_two_and_a_half_pages_stays():
    first = samples(c1=dict(total_pages=5, free_chunks=2500))
    am = Automove(window=3, ratio=0.8, first=first)
    assert feed(am, 5, lambda t: first) == [(-1, -1)] * 5


def old_and_young(t, young_evicts=True):
    # class 1: old items, 10 pages, no evictions; class 2: evicting every second, young tail
    return samples(c1=dict(total_pages=10, age=1000),
                   c2=dict(total_pages=3, age=100, evicted=t * 10 if young_evicts else 0))


def test_oldest_to_youngest_only_after_the_window_filled():
    am = Automove(window=5, ratio=0.8, first=old_and_young(0))
    decisions = feed(am, 7, old_and_young)
    assert decisions[:5] == [(-1, -1)] * 5  # window_cur must pass the window size
    assert decisions[5:] == [(1, 2), (1, 2)]


def test_no_move_when_the_youngest_did_not_evict_this_second():
    am = Automove(window=3, ratio=0.8, first=old_and_young(0))
    feed(am, 4, old_and_young)
    still = old_and_young(4)                # same cumulative count: no eviction now
    assert am.run(still) == (-1, -1)


def test_no_move_when_ages_are_within_the_ratio():
    def make(t):
        return samples(c1=dict(total_pages=10, age=1000),
                       c2=dict(total_pages=3, age=850, evicted=t))
    am = Automove(window=3, ratio=0.8, first=make(0))
    assert feed(am, 6, make) == [(-1, -1)] * 6   # 850 is not under 0.8 x 1000


def test_a_source_needs_more_than_two_pages():
    def make(t):
        return samples(c1=dict(total_pages=2, age=1000),
                       c2=dict(total_pages=3, age=100, evicted=t))
    am = Automove(window=3, ratio=0.8, first=make(0))
    assert feed(am, 6, make) == [(-1, -1)] * 6


def test_bursty_evictions_count_by_their_share():
    # class 2 evicts only every third second (not in more than half the window), but takes
    # all of the evictions: over 25% of the window's share, so it is still the youngest
    def make(t):
        return samples(c1=dict(total_pages=10, age=1000),
                       c2=dict(total_pages=3, age=100, evicted=(t // 3) * 50))
    am = Automove(window=6, ratio=0.8, first=make(0))
    decisions = feed(am, 12, make)
    moves = [t + 1 for t, d in enumerate(decisions) if d == (1, 2)]
    assert moves and all(t % 3 == 0 and t > 6 for t in moves)


def test_the_age_is_a_window_average():
    ages = iter([100, 100, 100, 2000, 2000, 2000, 2000])

    def make(t):
        return samples(c1=dict(total_pages=10, age=1000),
                       c2=dict(total_pages=3, age=next(ages), evicted=t))
    am = Automove(window=3, ratio=0.8, first=samples(c1=dict(total_pages=10, age=1000),
                                                     c2=dict(total_pages=3, age=100)))
    decisions = feed(am, 5, make)
    assert decisions[3] == (1, 2)           # averages 100 vs 1000: move
    assert decisions[4] == (-1, -1)         # average (100+2000+2000)/3 > 800: no move


def test_sample_store_reads_pages_free_chunks_and_tail_age():
    store = ItemStore(8 << 20)
    off = store.reserve(b"k", 0, 0, 100, 50)
    store.write_value(off, b"x" * 100)
    store.link(off, b"k")
    s = sample_store(store, 80)
    cid = store.class_of(off)
    assert s[cid].total_pages == 1 and s[cid].age == 30
    assert s[cid].free_chunks == s[cid].chunks_per_page - 1
    assert s[1].total_pages == 0 and s[1].age == 0
