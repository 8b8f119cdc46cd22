"""The memory-pressure stress tool: `python -m bench.stress --help`.

Module map (one idea each):
  options   - the command line: StressOptions and its argparse parser
  workload  - keys, key/value-size/TTL/op-mix generators, values derived from key + version
  verifier  - checks a returned value byte for byte; KeyLedger flags stale values
  client    - a pipelined text-protocol connection over asyncio streams
  latency   - a log-bucketed latency histogram that merges across processes
  worker    - one load process: one event loop, many pipelined connections, exact ledger
  slowclients - readers that never read, writers that stall mid-value
  sampler   - `stats` / `stats slabs` / `stats items` parsing, RSS and CPU from /proc
  servers   - start and stop our daemon and memcached on free ports
  runner    - one timed run against one server: workers, sampling, progress bar
  report    - summary table, JSON and PNG
  cli       - main(): runs ours (and memcached with --compare-memcached) and reports
"""
