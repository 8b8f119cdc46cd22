"""replay against the real memcached 1.6.18: the same trace, the same -m and -f, flat LRU.

memcached's default LRU is segmented (HOT/WARM/COLD with a maintainer thread); memcache_py has
only the flat one today, so memcached runs `-o no_modern`, and the hit ratios must agree
within the issue's 0.5 points. Skipped when memcached is not installed.
"""

from __future__ import annotations

import pytest

from memcache_py.replay import Config, Trace, replay
from tests.conftest import MEMCACHED, MemcachedProcess
from tests.faithful import make_trace, play

pytestmark = pytest.mark.differential

if not MEMCACHED:
    pytest.skip("memcached not installed", allow_module_level=True)


@pytest.mark.parametrize("memory_mb,factor", [(4, 1.25), (8, 1.1), (8, 1.05)])
def test_replay_agrees_with_memcached_no_modern(tmp_path, memory_mb, factor):
    path = make_trace(tmp_path / "zipf.csv")
    offline = replay(Config(memory_mb, factor), Trace(path).requests())
    mc = MemcachedProcess("-o", "no_modern", "-m", str(memory_mb), "-f", str(factor)).start()
    try:
        gets, hits = play(mc.host, mc.port, path)
    finally:
        mc.stop()
    assert gets == offline.requests
    live = hits / gets
    assert 0.05 < live < 0.95
    assert abs(100 * (live - offline.hit_ratio)) <= 0.5, (live, offline.hit_ratio)
