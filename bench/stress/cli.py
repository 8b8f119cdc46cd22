"""`python -m bench.stress`: run the stress load against one or two servers and report.

With --target it loads a running server. Otherwise it starts ours (or memcached with
--server memcached) on a free port, and with --compare-memcached runs the identical workload
against a real memcached afterwards, with the same memory flags. Exit status: 0 when every value
read back was right and no server died, 1 otherwise, 2 when a server would not start.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.stress.options import StressOptions, parse_args
from bench.stress.report import format_timeline, format_table, summarize, write_json, write_png
from bench.stress.runner import RunResult, Target, run_once
from bench.stress.servers import (ManagedServer, ServerSpec, ServerStartError, memcached_spec,
                                  ours_spec)


def _specs(opts: StressOptions) -> list[ServerSpec]:
    flags = opts.memory_flags()
    if opts.tls_cert:           # TLS costs both servers the same crypto: same flags for both
        flags += ["-Z", "-o", f"ssl_chain_cert={opts.tls_cert},ssl_key={opts.tls_key}"]
    ours = ours_spec(flags, opts.server_cmd, opts.server_args)
    memcached = memcached_spec(flags, opts.server_args)   # defaults meet defaults
    if opts.compare_memcached:
        return [ours, memcached]
    return [memcached if opts.server == "memcached" else ours]


class _Progress:
    """A tqdm bar per run, moved by the runner's once-a-second callback."""

    def __init__(self, opts: StressOptions, label: str):
        self.bar = None
        if opts.progress:
            from tqdm import tqdm
            total = opts.duration if opts.duration > 0 else None
            self.bar = tqdm(total=total, desc=f"{label:>9}", unit="s", file=sys.stderr,
                            bar_format="{desc} {bar} {n:.0f}/{total:.0f}s{postfix}")
        self.shown = 0.0

    def __call__(self, row: dict, elapsed: float) -> None:
        if self.bar is None:
            return
        server = row.get("server") or {}
        hit = row.get("hit_ratio")
        rss = server.get("rss")
        self.bar.set_postfix_str(
            f"{row['ops_s']:,.0f} req/s hit {hit if hit is None else round(hit, 3)} "
            f"evict {server.get('evictions', '-')} oom {server.get('outofmemory', '-')} "
            f"rss {rss / 2**20 if rss else 0:.0f}MB bad {row['corrupt'] + row['stale']}",
            refresh=False)
        step = min(elapsed, self.bar.total or elapsed) - self.shown
        self.bar.update(step)
        self.shown += step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_started(opts: StressOptions, spec: ServerSpec, out: Path, stamp: str) -> RunResult:
    log = out / f"{opts.name}-{stamp}-{spec.name}.log"
    server = ManagedServer(spec, log_path=log, cores="0" if opts.pin else None)
    with server:
        print(f"{spec.name}: {' '.join(server.argv)}  (log {log})", file=sys.stderr)
        progress = _Progress(opts, spec.name)
        try:
            result = run_once(opts, Target(spec.name, server.host, server.port, server), progress)
        finally:
            progress.close()
        if result.server_died:
            print(f"{spec.name} DIED (exit {server.returncode}):\n{server.log_tail()}",
                  file=sys.stderr)
    return result


def _run_target(opts: StressOptions) -> RunResult:
    host, port = opts.target
    progress = _Progress(opts, "target")
    try:
        return run_once(opts, Target(f"{host}:{port}", host, port), progress)
    finally:
        progress.close()


def failed(summaries: list[dict]) -> list[str]:
    """Why the run must exit non-zero (empty when it passed)."""
    reasons = []
    for s in summaries:
        if s["corrupt"] or s["stale"]:
            reasons.append(f"{s['label']}: {s['corrupt']} corrupted and {s['stale']} stale values")
        if s["server_died"]:
            reasons.append(f"{s['label']}: the server died")
        if s["worker_crashes"]:
            reasons.append(f"{s['label']}: {s['worker_crashes']} load processes crashed")
    return reasons


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    out = Path(opts.out_dir)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results: list[RunResult] = []
    try:
        if opts.target:
            results.append(_run_target(opts))
        else:
            for spec in _specs(opts):
                results.append(_run_started(opts, spec, out, stamp))
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summaries = [summarize(r, opts.workers) for r in results]
    for r in results:
        for crash in r.crashes:
            print(f"{r.label}: load process crashed:\n{crash}", file=sys.stderr)
        for problem in r.problems[:5]:
            print(f"{r.label}: {problem}", file=sys.stderr)
    print(format_table(summaries))
    if opts.size_shift:
        print(format_timeline(results))
    json_path = out / f"{opts.name}.json"
    write_json(json_path, opts.as_json(), results, summaries)
    print(f"samples: {json_path}")
    if opts.png:
        png_path = out / f"{opts.name}.png"
        write_png(png_path, results, f"stress: -m {opts.memory_mb}, {opts.keys:,} keys "
                  f"({opts.key_dist}), values {opts.size_shift or opts.value_size}, {opts.mix}")
        print(f"plot: {png_path}")
    reasons = failed(summaries)
    for reason in reasons:
        print(f"FAIL {reason}", file=sys.stderr)
    return 1 if reasons else 0
