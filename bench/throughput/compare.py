"""`python -m bench.throughput`: ours against memcached 1.6.18, same machine, same run.

For each workload and each round, a fresh memcached (`-t 1 -U 0 -m 64`, its defaults) and a
fresh daemon of ours with the same flags are loaded one after the other, the order swapped
every round; the server is pinned to core 0 and the load to core 1 (taskset). A workload's
figure is the median over rounds, its ratio the median of the per-round ratios ours/memcached.
memaslap gives the throughput workloads; the fixed-rate latency run is our own client
(bench/throughput/fixedrate.py) because memaslap cannot hold a rate or give percentiles.
The memory workloads (memory_100B, memory_1KB) fill the fresh server over one connection with
about 1.4x the keys that fit in -m 64 (bench/throughput/memfill.py: pipelined noreply sets,
then `mn` and `stats`) and take its RSS (VmRSS, MiB) as the figure, lower is better; the two
servers must also keep the same number of items, and a row where they do not is flagged
ITEMS DIFFER and misses its goal.
The goals are design.md's "Numbers we hold ourselves to" and issue #8's memory targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.stress.sampler import read_cpu_seconds, read_rss
from bench.stress.servers import (OURS_CMD, REPO_ROOT, ManagedServer, ServerStartError,
                                  memcached_available, memcached_spec, ours_available, ours_spec,
                                  taskset_prefix)
from bench.throughput import memaslap
from bench.throughput.memaslap import MemaslapLoad
from bench.throughput.memfill import MemoryFill

SERVER_FLAGS = ["-m", "64", "-c", "1024"]
MIB = 1 << 20


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    metric: str                       # what the figure is: "ops/s", "keys/s", "p99 µs", ...
    goal: float                       # ratio ours/memcached to reach (min, or max for latency)
    load: MemaslapLoad | None = None  # None (and no fill): the fixed-rate run of our own client
    lower_is_better: bool = False
    fill: MemoryFill | None = None    # a memory workload: fill, then RSS (bench/throughput/memfill)


WORKLOADS = (
    Workload("get90_set10_100B", "90% get / 10% set, 100-byte values, 32 conns (memaslap)",
             "ops/s", 0.6, MemaslapLoad(value_size=100, set_proportion=0.1, concurrency=32)),
    Workload("multiget10_100B", "10-key multi-gets (memaslap -d 10; TPS counts keys), 10% set",
             "keys/s", 0.6, MemaslapLoad(value_size=100, set_proportion=0.1, concurrency=32,
                                         multiget=10)),
    Workload("sets_100B", "sets only, 100-byte values (memaslap)", "ops/s", 0.6,
             MemaslapLoad(value_size=100, set_proportion=1.0, concurrency=32)),
    Workload("get90_set10_16KB", "90% get / 10% set, 16 KB values (memaslap)", "ops/s", 0.6,
             MemaslapLoad(value_size=16384, set_proportion=0.1, concurrency=32)),
    Workload("conns512", "90% get / 10% set, 100-byte values, 512 connections (memaslap)",
             "ops/s", 0.6, MemaslapLoad(value_size=100, set_proportion=0.1, concurrency=512)),
    Workload("get_p99_at_20k", "get latency at 20 000 gets/s, 100 conns (own client: memaslap "
             "cannot hold a rate)", "p99 µs", 1.5, None, lower_is_better=True),
    # Issue #8: at -m 64 the same items as memcached (349 504 for 100 B under -o no_modern) and
    # RSS <= 1.5x memcached's; with 1 KB values RSS <= 1.3x. ~1.4x the keys that fit.
    Workload("memory_100B", "RSS after filling -m 64 with 450 000 100-byte values (one conn, "
             "noreply sets); items must equal memcached's", "RSS MiB", 1.5,
             lower_is_better=True, fill=MemoryFill(keys=450_000, value_size=100)),
    Workload("memory_1KB", "RSS after filling -m 64 with 90 000 1 KB values (one conn, "
             "noreply sets); items must equal memcached's", "RSS MiB", 1.3,
             lower_is_better=True, fill=MemoryFill(keys=90_000, value_size=1024)),
)


@dataclass
class Measurement:
    workload: str
    server: str
    round: int
    value: float | None
    detail: dict = field(default_factory=dict)
    error: str | None = None


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _measure(workload: Workload, server: ManagedServer, args, workdir: Path,
             rnd: int) -> Measurement:
    load_cpu0, server_cpu0, wall0 = _children_cpu(), read_cpu_seconds(server.pid), time.monotonic()
    m = _measure_load(workload, server, args, workdir, rnd)
    wall = time.monotonic() - wall0
    server_cpu1 = read_cpu_seconds(server.pid)
    m.detail["load_cpu_pct"] = round(100 * (_children_cpu() - load_cpu0) / wall, 1)
    if server_cpu0 is not None and server_cpu1 is not None:
        m.detail["server_cpu_pct"] = round(100 * (server_cpu1 - server_cpu0) / wall, 1)
    return m


def _measure_load(workload: Workload, server: ManagedServer, args, workdir: Path,
                  rnd: int) -> Measurement:
    if workload.load is not None:
        res = memaslap.run(args.memaslap, server.host, server.port, workload.load, args.seconds,
                           workdir, cores=args.load_cores)
        detail = {"ops": res.ops, "seconds": res.seconds, **res.counters}
        value = res.tps
        error = res.error
    elif workload.fill is not None:
        fill = workload.fill
        rss_start = read_rss(server.pid)
        detail, error = _run_client("memfill", args, [
            "--port", str(server.port), "--keys", str(fill.keys),
            "--value-size", str(fill.value_size), "--batch", str(fill.batch)], timeout=600)
        rss = read_rss(server.pid) if server.alive() else None
        detail["rss_start"] = rss_start
        value = memory_figure(rss) if error is None else None
    else:
        detail, error = _run_client("fixedrate", args, [
            "--port", str(server.port), "--rate", str(args.rate), "--seconds", str(args.seconds),
            "--conns", str(args.latency_conns)], timeout=args.seconds + 60)
        value = detail.get("p99_us")
    detail["rss"] = read_rss(server.pid) if server.alive() else None
    if not server.alive():
        error = f"server died (exit {server.returncode})"
    return Measurement(workload.name, server.spec.name, rnd, value, detail, error)


def _run_client(module: str, args, client_args: list[str],
                timeout: float) -> tuple[dict, str | None]:
    """Run bench.throughput.<module> on the load cores; (its last-line JSON, error or None)."""
    argv = [*taskset_prefix(args.load_cores), sys.executable, "-m", f"bench.throughput.{module}",
            *client_args]
    try:
        done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, f"{module} timed out after {timeout:.0f}s"
    try:
        detail = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}, f"{module} failed: {done.stderr.strip()[-300:]}"
    return detail, None if done.returncode == 0 else "errors in run"


def memory_figure(rss_bytes: int | None) -> float | None:
    """A memory workload's figure: RSS in MiB."""
    return None if rss_bytes is None else rss_bytes / MIB


def _servers(args) -> list:
    specs = [memcached_spec(SERVER_FLAGS)]
    if args.ours:
        specs.append(ours_spec(SERVER_FLAGS, tuple(shlex.split(args.server_cmd))))
    return specs


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(workloads, measurements: list[Measurement], have_ours: bool) -> list[dict]:
    rows = []
    for w in workloads:
        mine = [m for m in measurements if m.workload == w.name]
        by = {(m.server, m.round): m.value for m in mine}
        rounds = sorted({m.round for m in mine})
        ratios = [by[("ours", r)] / by[("memcached", r)] for r in rounds
                  if by.get(("ours", r)) and by.get(("memcached", r))]
        ratio = _median(ratios)
        ratio_ok = None if ratio is None else (ratio <= w.goal if w.lower_is_better
                                               else ratio >= w.goal)
        mismatches = item_mismatches(mine)
        flags = ["ITEMS DIFFER"] if mismatches else []
        ok = ratio_ok if ratio_ok is None or not flags else False
        rows.append({"workload": w.name, "metric": w.metric, "description": w.description,
                     "memcached": _median([by.get(("memcached", r)) for r in rounds]),
                     "ours": _median([by.get(("ours", r)) for r in rounds]) if have_ours else None,
                     "ratio": ratio, "ratios": ratios, "goal": w.goal,
                     "goal_kind": "at most" if w.lower_is_better else "at least", "meets_goal": ok,
                     "ratio_ok": ratio_ok, "flags": flags, "notes": _notes(mine) + mismatches,
                     "errors": [f"{m.server} r{m.round}: {m.error}" for m in mine if m.error]})
    return rows


def item_mismatches(mine: list[Measurement]) -> list[str]:
    """Memory workloads: the rounds where ours kept a different number of items than memcached."""
    items = {(m.server, m.round): m.detail.get("curr_items") for m in mine}
    out = []
    for rnd in sorted({m.round for m in mine}):
        mc, ours = items.get(("memcached", rnd)), items.get(("ours", rnd))
        if mc is not None and ours is not None and mc != ours:
            out.append(f"ITEMS DIFFER in round {rnd + 1}: memcached {mc:,}, ours {ours:,} "
                       f"({ours - mc:+,})")
    return out


def _notes(mine: list[Measurement]) -> list[str]:
    """Who limited each figure: CPU of server and load (whole run, % of a core), late sends;
    for the memory workloads, the items kept, evictions and RSS before the fill."""
    notes = []
    for server in ("memcached", "ours"):
        runs = [m.detail for m in mine if m.server == server and m.detail]
        if not runs:
            continue
        cpu = _median([d.get("server_cpu_pct") for d in runs])
        load = _median([d.get("load_cpu_pct") for d in runs])
        note = f"{server}: server CPU {cpu or 0:.0f}%, load CPU {load or 0:.0f}%"
        late = _median([d.get("late_sends_pct") for d in runs])
        p50 = _median([d.get("p50_us") for d in runs])
        if p50 is not None:
            note += f", get p50 {p50:,.0f} µs"
        if late is not None:
            achieved = _median([d.get("rate_achieved") for d in runs]) or 0
            note += f", {achieved:,.0f} gets/s done, late sends {late:.1f}%"
        items = _median([d.get("curr_items") for d in runs])
        if items is not None:
            evictions = _median([d.get("evictions") for d in runs]) or 0
            start = _median([d.get("rss_start") for d in runs])
            note += f", {items:,.0f} items, {evictions:,.0f} evictions"
            if start is not None:
                note += f", RSS {start / MIB:,.1f} MiB before the fill"
            other = _median([d.get("other_replies") for d in runs])
            if other:
                note += f", {other:,.0f} unexpected replies"
        elif load is not None and load >= 90:
            note += " (load-bound: the figure is a lower bound)"
        notes.append(note)
    return notes


def format_table(rows: list[dict]) -> str:
    head = ["workload", "metric", "memcached", "ours", "ours/mc", "goal", ""]
    lines = [head]
    for r in rows:
        fmt = (lambda v: "-" if v is None else f"{v:,.0f}")
        goal = f"{'<=' if r['goal_kind'] == 'at most' else '>='}{r['goal']}x"
        marks = (["BELOW GOAL"] if r["ratio_ok"] is False else []) + r["flags"]
        mark = ", ".join(marks) or ("ok" if r["meets_goal"] else "")
        lines.append([r["workload"], r["metric"], fmt(r["memcached"]), fmt(r["ours"]),
                      "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", goal, mark])
    widths = [max(len(str(l[i])) for l in lines) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in
                     enumerate(zip(l, widths))) for l in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per workload")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    p.add_argument("--workloads", default=",".join(w.name for w in WORKLOADS),
                   help="comma-separated subset of: " + ", ".join(w.name for w in WORKLOADS))
    p.add_argument("--rate", type=float, default=20_000, help="gets/s of the latency run")
    p.add_argument("--latency-conns", type=int, default=100, help="connections of the latency run")
    p.add_argument("--server-cmd", default=shlex.join(OURS_CMD), help="command that starts ours")
    p.add_argument("--memcached-only", action="store_true", help="do not run ours")
    p.add_argument("--memaslap", default=memaslap.find_memaslap(), help="memaslap binary")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and load to cores")
    p.add_argument("--out", default="bench/out/throughput.json")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = set(names) - {w.name for w in WORKLOADS}
    if unknown:
        build_parser().error(f"unknown workloads: {', '.join(sorted(unknown))}")
    workloads = [w for w in WORKLOADS if w.name in names]
    if not memcached_available():
        print("error: memcached is not installed", file=sys.stderr)
        return 2
    if any(w.load for w in workloads) and not args.memaslap:
        print("error: memaslap (memcaslap) is not installed", file=sys.stderr)
        return 2
    pin = not args.no_pin and shutil.which("taskset") and len(os.sched_getaffinity(0)) > 1
    args.server_cores, args.load_cores = ("0", "1") if pin else (None, None)
    args.ours = not args.memcached_only and ours_available(tuple(shlex.split(args.server_cmd)))
    if not args.ours and not args.memcached_only:
        print(f"note: ours is not runnable ({args.server_cmd} --help failed): memcached only",
              file=sys.stderr)
    workdir = Path(args.out).parent / "throughput-work"
    measurements = _run_all(args, workloads, workdir)
    rows = summarize(workloads, measurements, args.ours)
    print(format_table(rows))
    for r in rows:
        print(f"  {r['workload']}: " + "; ".join(r["notes"]))
        for err in r["errors"]:
            print(f"  {r['workload']}: {err}", file=sys.stderr)
    if "multiget10_100B" in names:
        print("multiget10_100B: memaslap counts each key of a multi-get as one op.")
    if "get_p99_at_20k" in names:
        print("get_p99_at_20k: own client (bench/throughput/fixedrate.py); memaslap cannot hold "
              "a fixed rate or report percentiles.")
    if any(w.fill for w in workloads):
        print("memory_*: VmRSS after the fill (bench/throughput/memfill.py); the item counts of "
              "both servers must match, or the row is flagged ITEMS DIFFER.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"tool": "bench.throughput", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "args": vars(args), "results": rows,
           "measurements": [asdict(m) for m in measurements]}
    out.write_text(json.dumps(doc, indent=1, default=str))
    print(f"results: {out}")
    return 0 if all(not r["errors"] for r in rows) else 1


def _run_all(args, workloads, workdir: Path) -> list[Measurement]:
    measurements = []
    specs = _servers(args)
    for w in workloads:
        for rnd in range(args.rounds):
            order = specs if rnd % 2 == 0 else specs[::-1]
            for spec in order:
                log = workdir / f"{spec.name}-{w.name}-{rnd}.log"
                try:
                    with ManagedServer(spec, log_path=log, cores=args.server_cores) as server:
                        m = _measure(w, server, args, workdir, rnd)
                except ServerStartError as exc:
                    m = Measurement(w.name, spec.name, rnd, None, error=str(exc).splitlines()[0])
                measurements.append(m)
                shown = "-" if m.value is None else f"{m.value:,.0f}"
                print(f"{w.name:>18} round {rnd + 1} {spec.name:>9}: {shown} {w.metric}"
                      f"{'  (' + m.error + ')' if m.error else ''}", file=sys.stderr, flush=True)
    return measurements
