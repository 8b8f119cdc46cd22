"""bench.stress.workload: the generators give the distributions they promise."""

import collections
import random

import pytest

from bench.stress.workload import (FLAGS_SIZE, ITEM_OVERHEAD, MIN_VALUE_SIZE, KeyChooser,
                                   ValueSizes, WeightedChoice, key_index, make_key, parse_mix,
                                   parse_size, parse_ttls, parse_weights, slab_chunk_sizes)

pytestmark = pytest.mark.unit


def test_parse_size():
    assert parse_size("100") == 100
    assert parse_size("16k") == 16384
    assert parse_size("1m") == 1 << 20
    assert parse_size("2MB") == 2 << 20
    assert parse_size(7) == 7
    with pytest.raises(ValueError):
        parse_size("lots")


def test_parse_weights_and_mix():
    assert parse_weights("a=0.9,b=0.1") == [("a", 0.9), ("b", 0.1)]
    assert parse_weights("a,b") == [("a", 1.0), ("b", 1.0)]
    assert parse_mix("get=9,set=1") == [("get", 9.0), ("set", 1.0)]
    assert parse_ttls("0=0.9,3=0.1") == [(0, 0.9), (3, 0.1)]
    for bad in ("", "get=-1", "fly=1"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_weighted_choice_proportions():
    choose = WeightedChoice([("get", 0.9), ("set", 0.1)], random.Random(1))
    counts = collections.Counter(choose() for _ in range(20_000))
    assert 0.88 < counts["get"] / 20_000 < 0.92
    single = WeightedChoice([("x", 1.0)], random.Random(1))
    assert {single() for _ in range(10)} == {"x"}


def test_keys_round_trip():
    key = make_key(b"st:1:", 0x1234)
    assert key == b"st:1:00001234"
    assert key_index(len(b"st:1:"), key) == 0x1234


@pytest.mark.parametrize("dist", ["uniform", "zipf"])
def test_workers_own_disjoint_slices(dist):
    n, parts = 1000, 3
    seen = []
    for part in range(parts):
        chooser = KeyChooser(n, part, parts, dist, seed=part)
        idx = {chooser.next_index() for _ in range(5000)}
        assert all(i % parts == part and 0 <= i < n for i in idx)
        assert all(chooser.owns(i) and 0 <= chooser.local_slot(i) < chooser.local for i in idx)
        seen.append(idx)
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2])
    assert sum(KeyChooser(n, p, parts).local for p in range(parts)) == n


def test_uniform_is_flat():
    chooser = KeyChooser(100, 0, 1, "uniform", seed=3)
    counts = collections.Counter(chooser.next_rank() for _ in range(50_000))
    assert len(counts) == 100
    assert max(counts.values()) < 1.3 * 500 and min(counts.values()) > 0.7 * 500


def test_zipf_follows_its_law():
    n, s = 1000, 0.99
    chooser = KeyChooser(n, 0, 1, "zipf", zipf_s=s, seed=5)
    draws = 100_000
    counts = collections.Counter(chooser.next_rank() for _ in range(draws))
    harmonic = sum(1 / (r ** s) for r in range(1, n + 1))
    for rank in (0, 1, 9):
        expected = draws / ((rank + 1) ** s * harmonic)
        assert abs(counts[rank] - expected) < 0.1 * expected + 30, rank
    assert max(counts) < n
    top10 = sum(counts[r] for r in range(10)) / draws
    assert 0.35 < top10 < 0.45          # ~0.39 for n=1000, s=0.99


def test_fixed_and_range_sizes():
    rng = random.Random(1)
    assert {ValueSizes("100", rng)() for _ in range(10)} == {100}
    assert ValueSizes("10", rng)() == MIN_VALUE_SIZE
    sizes = [ValueSizes("64-4096", rng)() for _ in range(5000)]
    assert min(sizes) >= 64 and max(sizes) <= 4096
    assert min(sizes) < 200 and max(sizes) > 3900
    assert ValueSizes("64-4096", rng).largest == 4096


def test_mix_of_sizes():
    sizes = ValueSizes("mix:100=3,16k=1", random.Random(2))
    counts = collections.Counter(sizes() for _ in range(8000))
    assert set(counts) == {100, 16384}
    assert 0.72 < counts[100] / 8000 < 0.78
    assert sizes.largest == 16384


def test_slab_chunk_sizes_match_memcached_defaults():
    chunks = slab_chunk_sizes()
    assert chunks[:6] == [96, 120, 152, 192, 240, 304]
    assert chunks[-2:] == [524288, 1048576]     # slab_chunk_max, then -I (chained items)
    assert slab_chunk_sizes(item_max=512 * 1024)[-1] == 524288


def test_class_mix_covers_the_classes_it_names():
    key_len = 18
    chunks = [c for c in slab_chunk_sizes() if c <= 65536]
    sizes = ValueSizes("classes:64k", random.Random(3), key_len=key_len)
    overhead = ITEM_OVERHEAD + key_len + FLAGS_SIZE
    hit = collections.Counter()
    for _ in range(20_000):
        size = sizes()
        total = size + overhead
        hit[next(i for i, c in enumerate(chunks) if total <= c)] += 1
    usable = {i for i, c in enumerate(chunks) if c - overhead >= MIN_VALUE_SIZE}
    assert usable == set(range(1, len(chunks)))     # class 1 is too small for a 24-byte value
    assert set(hit) == usable                       # every other class up to 64k is used
    assert min(hit.values()) > 20_000 / len(chunks) / 2
