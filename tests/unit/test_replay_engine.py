"""The replay engine against hit ratios worked out by hand on tiny traces, and its CLI."""

from __future__ import annotations

import json

import pytest

from memcache_py.replay import Config, ConfigError, replay
from memcache_py.replay.__main__ import main
from memcache_py.replay.formats import DELETE, GET, SET
from memcache_py.replay.generate import requests as zipf, write

pytestmark = pytest.mark.unit

# A 100000-byte value with a 3-byte key is an item of 48 + 8 + 3 + 1 + 100000 + 2 = 100062
# bytes: slab class 32 at -f 1.25 (103496-byte chunks, 10 to a page). Under -o no_modern a
# page counts 10 x 103496 bytes against -m, so -m 2 grants 2 pages: room for 20 such items.
BIG = 100_000
TINY = Config(2, 1.25)


def scan(n: int, passes: int = 2):
    return [(0, GET, b"k%02d" % i, BIG, 0) for _ in range(passes) for i in range(n)]


def test_a_class_filling_up_holds_exactly_its_pages_worth():
    r = replay(TINY, scan(20))
    assert (r.requests, r.hits, r.hit_ratio, r.evictions) == (40, 20, 0.5, 0)
    assert r.items == 20 and r.pages == 2
    assert r.classes == [{"class": 32, "chunk_size": 103496, "pages": 2, "items": 20,
                          "evicted": 0, "outofmemory": 0}]


def test_one_item_too_many_and_a_flat_lru_scan_never_hits():
    # The 21st item evicts k00; the second pass then always misses the key it evicted last.
    r = replay(TINY, scan(21))
    assert (r.hits, r.evictions, r.fills) == (0, 1 + 21, 42)
    assert r.top_evicting == [{"class": 32, "chunk_size": 103496, "evicted": 22}]


def test_the_newest_items_survive():
    trace = scan(25, passes=1) + [(0, GET, b"k%02d" % i, BIG, 0) for i in range(5, 25)]
    r = replay(TINY, trace)
    assert (r.requests, r.hits, r.evictions) == (45, 20, 5)


def test_a_ttl_expires_on_the_trace_clock():
    trace = [(100, GET, b"k", 10, 10),      # miss: filled with a 10 s TTL
             (105, GET, b"k", 10, 10),      # hit
             (110, GET, b"k", 10, 10),      # exptime <= now: expired (memcached's rule), refilled
             (111, GET, b"k", 10, 10)]      # hit
    r = replay(TINY, trace)
    assert (r.requests, r.hits, r.expired, r.fills) == (4, 2, 1, 2)


def test_a_delete_makes_the_next_get_miss():
    trace = [(0, SET, b"k", 10, 0), (0, GET, b"k", 10, 0), (0, DELETE, b"k", 0, 0),
             (0, GET, b"k", 10, 0), (0, GET, b"k", 10, 0)]
    r = replay(TINY, trace)
    assert (r.requests, r.hits, r.deletes, r.sets, r.fills) == (3, 2, 1, 2, 1)


def test_no_fill_leaves_misses_missing():
    trace = [(0, GET, b"k", 10, 0)] * 3
    assert replay(TINY, trace, fill=False).hits == 0
    assert replay(TINY, trace, fill=True).hits == 2


def test_byte_hit_ratio_weighs_by_size():
    trace = [(0, GET, b"a", 100, 0), (0, GET, b"b", 300, 0), (0, GET, b"a", 100, 0)]
    r = replay(TINY, trace)
    assert r.hit_ratio == pytest.approx(1 / 3) and r.byte_hit_ratio == pytest.approx(100 / 500)


def test_too_large_is_counted_not_fatal():
    r = replay(TINY, [(0, GET, b"k", 2 << 20, 0)] * 2)
    assert (r.hits, r.store_failed) == (0, 2)


def test_a_clock_running_backwards_stands_still():
    trace = [(50, GET, b"k", 10, 5), (10, GET, b"k", 10, 5), (54, GET, b"k", 10, 5),
             (55, GET, b"k", 10, 5)]
    r = replay(TINY, trace)
    assert (r.hits, r.expired) == (2, 1)


def test_refused_configurations():
    with pytest.raises(ConfigError, match="segmented LRU"):
        replay(Config(64, 1.25, "segmented"), [])
    with pytest.raises(ConfigError, match="Factor must be greater than 1"):
        replay(Config(64, 1.0), [])


# ---- the command line --------------------------------------------------------------------------
@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "zipf.csv"
    write(str(path), "twitter", zipf(20_000, 5_000, 0.9, [(100, 0.8), (3000, 0.2)]))
    return str(path)


def test_cli_grid_json_and_plot(trace, tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    assert main([trace, "--memory", "2,4", "--growth-factor", "1.1,1.25", "--jobs", "2",
                 "--json", str(out), "--plot", str(png), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "twitter trace, a set after each miss" in text
    results = json.loads(out.read_text())
    assert [(r["memory_mb"], r["growth_factor"]) for r in results] == \
        [(2, 1.1), (4, 1.1), (2, 1.25), (4, 1.25)]
    for r in results:
        assert r["lru"] == "flat" and r["requests"] == 20_000
        assert r["hit_ratio"] == pytest.approx(r["hits"] / r["requests"])
        assert sum(c["pages"] for c in r["classes"]) == r["pages"]
    by = {(r["memory_mb"], r["growth_factor"]): r for r in results}
    assert by[4, 1.25]["hit_ratio"] > by[2, 1.25]["hit_ratio"]     # more memory, more hits
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same configuration in one process gives the same answer
    assert main([trace, "-m", "4", "-f", "1.25", "--json", str(out), "--no-progress"]) == 0
    assert json.loads(out.read_text())[0]["hits"] == by[4, 1.25]["hits"]


def test_cli_damaged_trace_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"0,k,1,1,1,get,0\n0,k,1,oops,1,get,0\n")
    assert main([str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv:2:" in err
    assert main([str(path), "--no-progress", "--skip-bad-lines"]) == 0
    assert "1 damaged lines skipped" in capsys.readouterr().out


def test_cli_refuses_segmented_and_bad_settings(trace, capsys):
    assert main([trace, "--lru", "segmented", "--no-progress"]) == 2
    assert "segmented LRU" in capsys.readouterr().err
    assert main([trace, "-m", "1", "--no-progress"]) == 2
    assert "item size limit" in capsys.readouterr().err


def test_streamed_in_batches_with_progress():
    """The engine pulls the trace in bounded batches (never the whole trace into a list) and
    reports progress after each."""
    pulled = []

    def trace():
        for i in range(40_000):
            pulled.append(i)
            yield (0, GET, b"k%d" % (i % 100), 10, 0)
    seen = []

    def progress(done: int) -> None:
        seen.append((done, len(pulled)))
    r = replay(TINY, trace(), progress=progress)
    assert r.requests == 40_000 and r.hits == 40_000 - 100
    assert seen == [(16384, 16384), (32768, 32768), (40000, 40000)]


def test_cli_zstd_oracle_and_given_format(tmp_path, capsys):
    import struct

    import zstandard
    rec = struct.Struct("<IQIq")
    data = b"".join(rec.pack(i, i % 7, 1000, -1) for i in range(700))
    path = tmp_path / "trace.bin.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    out = tmp_path / "r.json"
    assert main([str(path), "--format", "oracle", "-m", "2", "--json", str(out),
                 "--no-progress"]) == 0
    assert "oracle trace, a set after each miss" in capsys.readouterr().out
    [r] = json.loads(out.read_text())
    assert (r["requests"], r["hits"]) == (700, 693)         # 7 keys: each misses once
