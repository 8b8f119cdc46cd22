"""Throughput, latency and memory of the whole daemon against memcached 1.6.18 (`make bench`).

  memaslap  - runs memaslap (Debian's `memcaslap`) with a config file and reads its TPS
  fixedrate - our own open-loop load for what memaslap cannot do: gets at a fixed rate, p50/p99
  memfill   - fills a server past -m with pipelined noreply sets, then reads its stats (memory)
  compare   - the workloads, alternating rounds against both servers, median ratios, table, JSON

`python -m bench.throughput --help`.
"""
