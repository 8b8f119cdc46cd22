"""pytest-benchmark: the allocator's hot paths (make bench).

`python -m pytest bench/bench_allocator.py`. Stores are small (a few MB) so the set path
reaches the interesting state quickly: every class full, each store evicting from the LRU tail.
"""

import pytest

from allocator import NIL, ItemStore, SlabClassTable, item_ntotal

pytestmark = pytest.mark.benchmark

MB = 1024 * 1024
NOW = 1000
KEYS = [b"key:%08d" % i for i in range(200_000)]
VALUE = b"v" * 100 + b"\r\n"


def _set(store: ItemStore, key: bytes, value: bytes = VALUE) -> int:
    """What the daemon does for `set`: reserve, copy the data block in, link."""
    off = store.reserve(key, 0, 0, len(value) - 2, NOW)
    views = store.value_views(off)
    views[0][:] = value
    return store.link(off, key)


def _filled(memory: int, n: int) -> ItemStore:
    store = ItemStore(memory)
    for key in KEYS[:n]:
        _set(store, key)
    return store


def test_class_for(benchmark):
    table = SlabClassTable()
    sizes = [item_ntotal(12, n, 0) for n in range(0, 20_000, 97)]

    def run():
        return [table.class_for(s) for s in sizes]
    assert all(benchmark(run))


def test_set_100b_no_eviction(benchmark):
    store = ItemStore(64 * MB)
    keys = iter(KEYS * 100)

    def run():
        return _set(store, next(keys))
    benchmark(run)
    assert store.curr_items > 0


def test_set_100b_evicting(benchmark):
    """A full store: every set pulls the LRU tail (memcached's 5-candidate walk) first."""
    store = _filled(2 * MB, 40_000)
    assert store.item_stats[store.class_of(store.index[KEYS[39_999]])].evicted > 0
    keys = iter(KEYS[40_000:] * 100)

    def run():
        return _set(store, next(keys))
    benchmark(run)


def test_overwrite_same_keys(benchmark):
    store = _filled(8 * MB, 1000)
    keys = iter(KEYS[:1000] * 1000)

    def run():
        return _set(store, next(keys))
    benchmark(run)
    assert store.curr_items == 1000


def test_get_hit_and_views(benchmark):
    """The get path's allocator part: lookup, lazy-expiry check, views of the value."""
    store = _filled(8 * MB, 10_000)
    keys = iter(KEYS[:10_000] * 1000)

    def run():
        off = store.get(next(keys), NOW)
        return store.value_views(off)
    views = benchmark(run)
    assert bytes(views[0]) == VALUE


def test_get_miss(benchmark):
    store = _filled(8 * MB, 1000)

    def run():
        return store.get(b"no-such-key", NOW)
    assert benchmark(run) == NIL


def test_pin_unpin(benchmark):
    """What a get reply costs in pins: one pin while queued, one unpin once written."""
    store = _filled(8 * MB, 1000)
    off = store.index[KEYS[5]]

    def run():
        store.pin(off)
        store.unpin(off)
    benchmark(run)
    assert off not in store.refs
