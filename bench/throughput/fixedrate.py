"""Gets at a fixed rate, and their latency: the load memaslap cannot give (its -P does not
hold a rate on this build, and it reports no percentiles).

Open loop: each of `conns` connections has its own send schedule (one get every
`conns / rate` seconds, spread evenly), one request outstanding at a time. Latency is from the
moment a get is written to the moment its whole reply is read. A send that leaves more than
LATE_AFTER behind its schedule is counted as late: many late sends mean the rate was not
held (by the server or by this client), and the summary says so. The keys are set first with
100-byte values so the gets hit.

Run as `python -m bench.throughput.fixedrate --port P ...`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

from bench.stress.client import ProtocolMismatch, ServerErrorReply, TextConnection, encode_set
from bench.stress.latency import LatencyHistogram
from bench.stress.workload import make_key, make_value

LATE_AFTER = 0.002            # seconds behind schedule before a send counts as late
PREFILL_BATCH = 500


async def _prefill(host: str, port: int, keys: list[bytes], value_size: int) -> None:
    conn = await TextConnection.open(host, port)
    try:
        for i in range(0, len(keys), PREFILL_BATCH):
            chunk = keys[i:i + PREFILL_BATCH]
            conn.send(b"".join(encode_set(k, 0, 0, make_value(k, 1, value_size)) for k in chunk))
            for _ in chunk:
                await asyncio.wait_for(conn.read_line(), 10)
    finally:
        conn.close()


class _Tally:
    def __init__(self):
        self.hist = LatencyHistogram()
        self.gets = self.misses = self.errors = self.late = self.sent = 0


async def _connection(conn, keys, rng, start, interval, warm_end, end, tally: _Tally) -> None:
    k = 0
    while True:
        intended = start + k * interval
        if intended >= end:
            return
        now = time.perf_counter()
        if intended > now:
            await asyncio.sleep(intended - now)
        sent = time.perf_counter()
        measured = intended >= warm_end
        conn.send(b"get " + keys[rng.randrange(len(keys))] + b"\r\n")
        try:
            values = await asyncio.wait_for(conn.read_values(), 10)
        except (ServerErrorReply, ProtocolMismatch, OSError, asyncio.IncompleteReadError,
                TimeoutError):
            tally.errors += 1
            return
        if measured:
            tally.hist.add(time.perf_counter() - sent)
            tally.gets += 1
            tally.misses += not values
            tally.late += sent - intended > LATE_AFTER
        k += 1


async def run(host: str, port: int, rate: float, seconds: float, conns: int, keys: int,
              value_size: int, warmup: float, seed: int = 1) -> dict:
    names = [make_key(b"fr:", i) for i in range(keys)]
    await _prefill(host, port, names, value_size)
    connections = [await TextConnection.open(host, port) for _ in range(conns)]
    tally, interval = _Tally(), conns / rate
    start = time.perf_counter() + 0.2
    warm_end, end = start + warmup, start + warmup + seconds
    cpu0 = time.process_time()
    try:
        await asyncio.gather(*(
            _connection(c, names, random.Random(seed + i), start + i * interval / conns,
                        interval, warm_end, end, tally) for i, c in enumerate(connections)))
    finally:
        for c in connections:
            c.close()
    cpu = time.process_time() - cpu0
    summary = tally.hist.summary()
    return {"rate_target": rate, "rate_achieved": tally.gets / seconds, "seconds": seconds,
            "conns": conns, "gets": tally.gets, "misses": tally.misses, "errors": tally.errors,
            "late_sends_pct": 100.0 * tally.late / tally.gets if tally.gets else None,
            "client_cpu_pct": 100.0 * cpu / (warmup + seconds), "latency": summary,
            "p50_us": summary["p50_us"], "p99_us": summary["p99_us"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.throughput.fixedrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rate", type=float, default=20_000, help="gets per second")
    p.add_argument("--seconds", type=float, default=5.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds not measured first")
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--value-size", type=int, default=100)
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("loopback only")
    try:
        import uvloop
        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(run(args.host, args.port, args.rate, args.seconds, args.conns,
                                args.keys, args.value_size, args.warmup))
    json.dump(result, sys.stdout)
    print()
    return 0 if result["gets"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
