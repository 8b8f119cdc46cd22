"""`python -m bench.throughput.tls`: the 90/10 workload over TLS, ours against memcached -Z.

memaslap has no TLS, so the load is our own client: `--procs` processes (pinned to the load
core), each with asyncio (uvloop when installed) and its share of `--conns` connections, every
connection in lockstep: 90% `get` of one of `--keys` keys, 10% `set` of a `--value-size` value,
counted for `--seconds`. Each round starts a fresh memcached (`-t 1 -Z`) and a fresh daemon of
ours with the same certificate, preloads the keys, and measures TLS and then clear text (the
same client over a `notls:` listener of the same server), the server order swapped each round.
Reported per server and mode: median ops/s, server CPU microseconds per op (CPU time of the
server process over the run / ops), and the ratios ours/memcached; the TLS cost of each server
is its TLS figure over its clear-text one. Certificates come from tests/certs.py (run from the
repository root).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.stress.sampler import read_cpu_seconds
from bench.stress.servers import (ManagedServer, ServerStartError, free_port, memcached_available,
                                  memcached_spec, ours_spec)

SERVER_FLAGS = ["-m", "64", "-c", "1024"]


async def _connection(host, port, ctx, keys, value, deadline, seed) -> int:
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    rng = random.Random(seed)
    gets = [b"get " + k + b"\r\n" for k in keys]
    sets = [b"set %s 0 0 %d\r\n%s\r\n" % (k, len(value), value) for k in keys]
    loop = asyncio.get_running_loop()
    n = 0
    try:
        while loop.time() < deadline:
            i = rng.randrange(len(keys))
            if rng.random() < 0.1:
                writer.write(sets[i])
                if await reader.readuntil(b"\r\n") != b"STORED\r\n":
                    raise RuntimeError("set not stored")
            else:
                writer.write(gets[i])
                await reader.readuntil(b"END\r\n")
            n += 1
    finally:
        writer.close()
    return n


async def _load(host, port, tls, conns, keys, value, seconds, seed) -> int:
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=tls)
        ctx.check_hostname = False
    deadline = asyncio.get_running_loop().time() + seconds
    counts = await asyncio.gather(*(_connection(host, port, ctx, keys, value, deadline,
                                                seed * 1000 + c) for c in range(conns)))
    return sum(counts)


def _worker(args) -> int:
    host, port, tls, conns, keys, value, seconds, seed, core = args
    if core is not None:
        os.sched_setaffinity(0, {core})
    try:
        import uvloop
        return uvloop.run(_load(host, port, tls, conns, keys, value, seconds, seed))
    except ImportError:
        return asyncio.run(_load(host, port, tls, conns, keys, value, seconds, seed))


def _preload(host, port, tls, keys, value) -> None:
    async def fill():
        ctx = None
        if tls:
            ctx = ssl.create_default_context(cafile=tls)
            ctx.check_hostname = False
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        for k in keys:
            writer.write(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k, len(value), value))
        writer.write(b"mn\r\n")
        await reader.readuntil(b"MN\r\n")
        writer.close()
    asyncio.run(fill())


def measure(server: ManagedServer, port: int, tls: str | None, args, keys, value) -> dict:
    """One run of the load against `port` of `server`: ops/s and server CPU µs per op."""
    load_core = args.load_core
    jobs = [("127.0.0.1", port, tls, max(1, args.conns // args.procs), keys, value,
             args.seconds, seed, load_core) for seed in range(args.procs)]
    cpu0 = read_cpu_seconds(server.pid)
    t0 = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.procs) as pool:
        ops = sum(pool.map(_worker, jobs))
    elapsed = time.monotonic() - t0
    cpu = read_cpu_seconds(server.pid) - cpu0
    return {"ops": ops, "ops_s": ops / args.seconds, "cpu_us_per_op": cpu / ops * 1e6 if ops
            else None, "elapsed": elapsed}


def _make_certs(directory: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.certs import make_pki        # the test extra's cryptography
    return make_pki(directory)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.throughput.tls", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--conns", type=int, default=32)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--out", default="bench/out/tls.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not memcached_available():
        print("error: memcached is not installed", file=sys.stderr)
        return 2
    pin = not args.no_pin and shutil.which("taskset") and len(os.sched_getaffinity(0)) > 1
    server_core, args.load_core = ("0", 1) if pin else (None, None)
    keys = [b"tls:%d" % i for i in range(args.keys)]
    value = b"v" * args.value_size
    work = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    pki = _make_certs(work)
    runs = []
    try:
        for rnd in range(args.rounds):
            names = ["ours", "memcached"] if rnd % 2 == 0 else ["memcached", "ours"]
            for name in names:
                plain_port = free_port()
                flags = [*SERVER_FLAGS, "-Z", "-o", f"ssl_chain_cert={pki.server_cert},"
                         f"ssl_key={pki.server_key}", "-l", f"notls:127.0.0.1:{plain_port}"]
                spec = ours_spec(flags) if name == "ours" else memcached_spec(flags)
                log = work / f"{name}-{rnd}.log"
                try:
                    with ManagedServer(spec, log_path=log, cores=server_core) as server:
                        _preload("127.0.0.1", plain_port, None, keys, value)
                        for mode, port, tls in (("tls", server.port, str(pki.ca)),
                                                ("clear", plain_port, None)):
                            r = measure(server, port, tls, args, keys, value)
                            runs.append({"server": name, "mode": mode, "round": rnd, **r})
                            print(f"round {rnd + 1} {name:>9} {mode:>5}: {r['ops_s']:>9,.0f} "
                                  f"ops/s, {r['cpu_us_per_op']:.1f} µs server CPU/op",
                                  file=sys.stderr, flush=True)
                except ServerStartError as exc:
                    print(f"{name}: {exc}", file=sys.stderr)
                    return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = summarize(runs)
    print(format_table(rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tool": "bench.throughput.tls", "args": vars(args),
                               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "results": rows, "runs": runs}, indent=1, default=str))
    print(f"results: {out}")
    return 0


def summarize(runs: list[dict]) -> dict:
    med = {}
    for server in ("ours", "memcached"):
        for mode in ("tls", "clear"):
            mine = [r for r in runs if r["server"] == server and r["mode"] == mode]
            med[(server, mode)] = {
                "ops_s": statistics.median(r["ops_s"] for r in mine),
                "cpu_us_per_op": statistics.median(r["cpu_us_per_op"] for r in mine)}
    rows = {}
    for mode in ("tls", "clear"):
        o, m = med[("ours", mode)], med[("memcached", mode)]
        rows[mode] = {"ours_ops_s": o["ops_s"], "memcached_ops_s": m["ops_s"],
                      "ratio_ops": o["ops_s"] / m["ops_s"],
                      "ours_cpu_us_per_op": o["cpu_us_per_op"],
                      "memcached_cpu_us_per_op": m["cpu_us_per_op"],
                      "ratio_cpu": o["cpu_us_per_op"] / m["cpu_us_per_op"]}
    return rows


def format_table(rows: dict) -> str:
    lines = ["| mode | ours ops/s | memcached ops/s | ratio | ours µs CPU/op "
             "| memcached µs CPU/op | CPU ratio |", "|---|---|---|---|---|---|---|"]
    for mode, r in rows.items():
        lines.append(f"| {mode} | {r['ours_ops_s']:,.0f} | {r['memcached_ops_s']:,.0f} | "
                     f"{r['ratio_ops']:.2f}x | {r['ours_cpu_us_per_op']:.1f} | "
                     f"{r['memcached_cpu_us_per_op']:.1f} | {r['ratio_cpu']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
