"""Benchmarks and the memory-pressure stress tool for memcache_py (issue #4).

`bench.stress` drives any memcached-compatible server with a verifying, multi-process load and
records what the server did under memory pressure; `bench.throughput` compares throughput and
latency with memcached 1.6.18 on the same machine; `bench_*.py` are pytest-benchmark files.
Nothing here is imported by the daemon.
"""
