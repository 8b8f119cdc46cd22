"""What a stress run tells a person: a summary table, the samples as JSON, and a PNG.

`summarize` turns a RunResult into flat figures (the same keys for every server, so two runs
line up in one table with a ratio column); `write_json` keeps everything, samples included;
`write_png` draws throughput, hit ratio, evictions, OOM errors and RSS over time, one line per
server on shared axes.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from bench.stress.runner import RunResult

# (summary key, label, format) in table order
ROWS = (
    ("duration_s", "run time, s", "{:.1f}"),
    ("ops", "requests answered", "{:,.0f}"),
    ("ops_s", "requests/s", "{:,.0f}"),
    ("get_keys_s", "keys fetched/s", "{:,.0f}"),
    ("hit_ratio", "hit ratio", "{:.3f}"),
    ("get_p50_us", "get p50, µs", "{:,.0f}"),
    ("get_p99_us", "get p99, µs", "{:,.0f}"),
    ("set_p99_us", "set p99, µs", "{:,.0f}"),
    ("evictions", "evictions", "{:,.0f}"),
    ("reclaimed", "reclaimed", "{:,.0f}"),
    ("lrutail_reflocked", "pinned tail items skipped", "{:,.0f}"),
    ("outofmemory", "outofmemory (server)", "{:,.0f}"),
    ("set_oom", "SERVER_ERROR out of memory", "{:,.0f}"),
    ("too_large", "too large", "{:,.0f}"),
    ("curr_items", "curr_items at end", "{:,.0f}"),
    ("bytes", "bytes at end", "{:,.0f}"),
    ("pages", "slab pages at end", "{:,.0f}"),
    ("rss_peak_mb", "peak RSS, MB", "{:.1f}"),
    ("rss_end_mb", "RSS at end, MB", "{:.1f}"),
    ("server_cpu", "server CPU, % of a core", "{:.0f}"),
    ("gen_cpu", "load CPU, % per process", "{:.0f}"),
    ("machine_cpu", "machine CPU, % of a core", "{:.0f}"),
    ("slow_reader_gets", "slow-reader gets unread", "{:,.0f}"),
    ("slow_writes", "slow writes (stored)", "{}"),
    ("conn_errors", "connection errors/timeouts", "{:,.0f}"),
    ("protocol_errors", "protocol errors", "{:,.0f}"),
    ("corrupt", "CORRUPTED values", "{:,.0f}"),
    ("stale", "STALE values", "{:,.0f}"),
    ("server_died", "server died", "{}"),
)
RATIO_ROWS = {"ops_s", "get_keys_s", "hit_ratio", "get_p50_us", "get_p99_us", "set_p99_us",
              "rss_peak_mb", "rss_end_mb", "curr_items", "evictions"}


def _server_series(result: RunResult, key: str) -> list:
    return [(r["t"], r["server"][key]) for r in result.samples
            if r.get("server") and r["server"].get(key) is not None]


def _delta(result: RunResult, key: str) -> float | None:
    series = _server_series(result, key)
    last = (result.final_stats or {}).get(key, series[-1][1] if series else None)
    if last is None:
        return None
    return last - (series[0][1] if series else 0)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def load_verdict(summary: dict) -> str:
    """Says which side limited the figure: the server, the load generator, or the machine."""
    server, gen = summary.get("server_cpu"), summary.get("gen_cpu")
    workers = summary.get("workers", 1)
    machine = summary.get("machine_cpu")
    cores = os.cpu_count() or 1
    if gen is None:
        return "load CPU unknown"
    parts = []
    if gen >= 85:
        parts.append(f"the load generator is CPU-bound ({gen:.0f}% per process): the figure "
                     "is a lower bound of what the server can do")
    if server is not None and server >= 85:
        parts.append(f"the server is CPU-bound ({server:.0f}% of a core)")
    if machine is not None and machine >= 85 * cores:
        ours = (server or 0) + gen * workers
        parts.append(f"all {cores} cores are busy (server {server or 0:.0f}% + load "
                     f"{gen * workers:.0f}% + other processes ~{max(0.0, machine - ours):.0f}% "
                     "of a core)")
    return "; ".join(parts) or "neither side saturated a core (latency- or rate-bound)"


def summarize(result: RunResult, workers: int) -> dict:
    t = result.totals
    duration = result.duration or 1e-9
    last = result.samples[-1].get("server") if result.samples else None
    end = result.final_stats or last or {}
    rss = [v for _, v in _server_series(result, "rss") if v]
    steady = [r for r in result.samples[1:] if not r.get("tail")] or result.samples[1:]
    gen = [_mean(r["gen_cpu"]) for r in steady if r.get("gen_cpu")]
    summary = {
        "label": result.label, "duration_s": result.duration, "ops": t.get("ops", 0),
        "ops_s": t.get("ops", 0) / duration, "get_keys_s": t.get("get_keys", 0) / duration,
        "hit_ratio": t["hits"] / t["get_keys"] if t.get("get_keys") else None,
        "get_p50_us": result.latency.get("get", {}).get("p50_us"),
        "get_p99_us": result.latency.get("get", {}).get("p99_us"),
        "set_p99_us": result.latency.get("set", {}).get("p99_us"),
        "evictions": _delta(result, "evictions"), "reclaimed": _delta(result, "reclaimed"),
        "outofmemory": _delta(result, "outofmemory"),
        "lrutail_reflocked": _delta(result, "lrutail_reflocked"),
        "curr_items": end.get("curr_items"), "bytes": end.get("bytes"),
        "pages": sum(end.get("pages", {}).values()) if end.get("pages") else None,
        "rss_peak_mb": max(rss) / 2 ** 20 if rss else None,
        "rss_end_mb": (end.get("rss") or (rss[-1] if rss else 0)) / 2 ** 20 if rss else None,
        "server_cpu": _mean([r.get("server_cpu") for r in steady]),
        "gen_cpu": _mean(gen), "workers": workers,
        "machine_cpu": _mean([r.get("machine_cpu") for r in steady]),
        "slow_writes": f"{t.get('slow_writes', 0)} ({t.get('slow_writes_stored', 0)})",
        "conn_errors": t.get("conn_errors", 0) + t.get("timeouts", 0) + t.get("connect_errors", 0),
        "server_died": result.server_died, "worker_crashes": len(result.crashes),
        "verdicts": result.verdicts,
    }
    for key in ("set_oom", "too_large", "slow_reader_gets", "protocol_errors", "corrupt", "stale",
                "server_errors"):
        summary[key] = t.get(key, 0)
    summary["load"] = load_verdict(summary)
    return summary


def _fmt(value, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(summaries: list[dict]) -> str:
    """The summary table; with two runs, a last column ours/memcached."""
    headers = ["", *[s["label"] for s in summaries]]
    ratio = len(summaries) == 2
    if ratio:
        headers.append(f"{summaries[0]['label']}/{summaries[1]['label']}")
    rows = [headers]
    for key, label, fmt in ROWS:
        row = [label, *[_fmt(s.get(key), fmt) for s in summaries]]
        if ratio:
            a, b = summaries[0].get(key), summaries[1].get(key)
            row.append(f"{a / b:.2f}x" if key in RATIO_ROWS and a is not None and b else "")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in summaries:
        lines.append(f"{s['label']}: {s['load']}")
    return "\n".join(lines)


def write_json(path: Path, options: dict, results: list[RunResult], summaries: list[dict]) -> None:
    doc = {"tool": "bench.stress", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "options": options,
           "runs": [{"label": r.label, "argv": r.argv, "summary": s, "samples": r.samples,
                     "latency": r.latency, "verdicts": r.verdicts, "problems": r.problems,
                     "crashes": r.crashes, "server_died": r.server_died,
                     "server_exit": r.server_exit, "final_stats": r.final_stats}
                    for r, s in zip(results, summaries)]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=str))


def format_timeline(results: list[RunResult], every: float = 5.0) -> str:
    """Hit ratio per `every` seconds and the pages moved so far, one column pair per run: how
    fast each server recovers after a `--size-shift`."""
    columns = []
    for r in results:
        rows, last, prev = {}, None, (0, 0)
        for s in r.samples:
            if s.get("tail"):
                continue
            slot = int(s["t"] // every)
            server = s.get("server") or {}
            rows[slot] = (s["hits"], s["misses"], server.get("slabs_moved"))
            last = slot
        out = {}
        for slot in sorted(rows):
            hits, misses, moved = rows[slot]
            dh, dm = hits - prev[0], misses - prev[1]
            prev = (hits, misses)
            out[slot] = (dh / (dh + dm) if dh + dm else None, moved)
        columns.append((r.label, out, last))
    slots = sorted({slot for _, out, _ in columns for slot in out})
    head = f"{'seconds':>8}" + "".join(f" {label + ' hit':>14} {'moved':>6}"
                                       for label, _, _ in columns)
    lines = [head]
    for slot in slots:
        line = f"{(slot + 1) * every:>8.0f}"
        for _, out, _ in columns:
            hit, moved = out.get(slot, (None, None))
            line += f" {_fmt(hit, '{:.3f}'):>14} {_fmt(moved, '{}'):>6}"
        lines.append(line)
    return "\n".join(lines)


def write_png(path: Path, results: list[RunResult], title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("throughput, requests/s", lambda r: [(s["t"], s["ops_s"]) for s in r.samples
                                                    if not s.get("tail")]),
              ("hit ratio", lambda r: [(s["t"], s["hit_ratio"]) for s in r.samples
                                       if s["hit_ratio"] is not None and not s.get("tail")]),
              ("evictions (cumulative)", lambda r: _server_series(r, "evictions")),
              ("slab pages moved (cumulative)", lambda r: _server_series(r, "slabs_moved")),
              ("OOM errors (cumulative)", lambda r: _server_series(r, "outofmemory")),
              ("RSS, MB", lambda r: [(t, v / 2 ** 20) for t, v in _server_series(r, "rss") if v]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 12), sharex=True)
    for ax, (label, series) in zip(axes, panels):
        for result in results:
            points = series(result)
            if points:
                ax.plot(*zip(*points), label=result.label, marker=".", linewidth=1.2)
            if label.startswith("OOM"):
                client = [(s["t"], s["set_oom"]) for s in result.samples]
                if any(v for _, v in client):
                    ax.plot(*zip(*client), linestyle="--", label=f"{result.label}: client-seen")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title or "memcache_py stress")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
