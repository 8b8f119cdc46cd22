"""pytest-benchmark: replay's throughput, requests per second in one process (make bench).

`python -m pytest bench/bench_replay.py`. One configuration over a generated Zipf trace with
two size populations, held in memory so the engine is measured apart from the parser; and the
same through the Twitter CSV reader, as the replay command runs it. The trace's ops count is
in extra_info, so ops/s x requests = requests/s.
"""

import pytest

from memcache_py.replay import Config, Trace, replay
from memcache_py.replay.formats import GET
from memcache_py.replay.generate import requests as zipf, write

pytestmark = pytest.mark.benchmark

N = 200_000
SIZES = [(100, 0.8), (3000, 0.2)]


@pytest.fixture(scope="module")
def trace():
    return [(ts, GET, key, size, ttl) for ts, key, size, ttl in zipf(N, 50_000, 0.9, SIZES)]


@pytest.mark.parametrize("memory_mb", [4, 64])
def test_engine(benchmark, trace, memory_mb):
    """4 MB: mostly misses, every fill evicting; 64 MB: everything fits, mostly hits."""
    result = benchmark.pedantic(replay, (Config(memory_mb, 1.25), trace), rounds=3)
    benchmark.extra_info.update(requests=N, hit_ratio=result.hit_ratio,
                                requests_per_s=N / benchmark.stats["median"])


def test_engine_with_the_csv_reader(benchmark, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("replay") / "zipf.csv")
    write(path, "twitter", zipf(N, 50_000, 0.9, SIZES))
    result = benchmark.pedantic(lambda: replay(Config(4, 1.25), Trace(path).requests()),
                                rounds=3)
    benchmark.extra_info.update(requests=N, hit_ratio=result.hit_ratio,
                                requests_per_s=N / benchmark.stats["median"])


def test_reader_alone(benchmark, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("replay") / "zipf.csv")
    write(path, "twitter", zipf(N, 50_000, 0.9, SIZES))
    count = benchmark.pedantic(lambda: sum(1 for _ in Trace(path).requests()), rounds=3)
    assert count == N
    benchmark.extra_info.update(requests=N, requests_per_s=N / benchmark.stats["median"])
