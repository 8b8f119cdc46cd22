"""One timed run of the stress load against one server.

Starts the worker processes (spawned, so each has a clean interpreter and its own event loop),
waits until every connection is open, then releases them all at once. Once a second it
merges the workers' counters, samples the server's stats, RSS and CPU, and moves the progress
bar. The run ends at the deadline or op budget, when the server dies, or when a worker crashes;
every wait here is bounded.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import time
from dataclasses import dataclass, field

from bench.stress.latency import LatencyHistogram
from bench.stress.options import StressOptions
from bench.stress.sampler import (MachineCpuMeter, MultiSampler, StatsSampler,
                                  looks_like_cache_server)
from bench.stress.worker import COUNTERS, worker_main

READY_TIMEOUT = 60.0          # workers opening their connections
SAMPLE_INTERVAL = 1.0
DEAD_AFTER_FAILED_SAMPLES = 5  # an external server that answers no `stats` for 5 s is dead


@dataclass
class Target:
    """Where the load goes, and what we know about the process behind it."""

    label: str
    host: str
    port: int
    server: object | None = None         # a servers.ManagedServer when we started it
    pid: int | None = None

    def alive(self) -> bool:
        return self.server.alive() if self.server is not None else True


@dataclass
class RunResult:
    label: str
    argv: list[str] | None
    duration: float = 0.0
    samples: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    verdicts: dict = field(default_factory=dict)
    latency: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)
    crashes: list = field(default_factory=list)
    server_died: bool = False
    server_exit: int | None = None
    final_stats: dict | None = None
    started: float = 0.0                  # monotonic time the workers were released


class _Workers:
    """The load processes and the latest counters each one reported."""

    def __init__(self, opts: StressOptions, target: Target):
        ctx = mp.get_context("spawn")
        self.queue, self.go, self.stop = ctx.Queue(), ctx.Event(), ctx.Event()
        self.procs = [ctx.Process(target=worker_main, daemon=True, name=f"stress-worker-{w}",
                                  args=(opts, w, target.host, target.port, self.queue, self.go,
                                        self.stop))
                      for w in range(opts.workers)]
        self.latest: dict[int, dict] = {}
        self.finals: dict[int, dict] = {}
        self.crashes: dict[int, str] = {}
        self.ready: set[int] = set()

    def start(self, cores: set[int] | None) -> None:
        for proc in self.procs:
            proc.start()
            if cores:
                try:
                    os.sched_setaffinity(proc.pid, cores)
                except OSError:
                    pass

    def pump(self, until: float) -> None:
        """Handle queue messages until the monotonic time `until`."""
        while True:
            left = until - time.monotonic()
            try:
                kind, wid, payload = self.queue.get(timeout=max(0.0, left)) if left > 0 \
                    else self.queue.get_nowait()
            except queue_mod.Empty:
                return
            if kind == "ready":
                self.ready.add(wid)
            elif kind == "progress":
                self.latest[wid] = payload
            elif kind == "final":
                self.latest[wid] = payload
                self.finals[wid] = payload
            elif kind == "crash":
                self.crashes[wid] = payload

    def all_ended(self) -> bool:
        return len(self.finals) + len(self.crashes) >= len(self.procs)

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (time.monotonic() < deadline and len(self.ready) < len(self.procs)
               and not self.crashes):
            self.pump(min(deadline, time.monotonic() + 0.2))
        return len(self.ready) == len(self.procs)

    def totals(self) -> dict:
        totals = dict.fromkeys(COUNTERS, 0)
        for snap in self.latest.values():
            for name in COUNTERS:
                totals[name] += snap.get(name, 0)
        return totals

    def cpu(self) -> dict[int, tuple[float, float]]:
        return {w: (s["cpu"], s["wall"]) for w, s in self.latest.items()}

    def finish(self, timeout: float) -> None:
        self.stop.set()
        self.go.set()
        deadline = time.monotonic() + timeout
        while not self.all_ended() and time.monotonic() < deadline:
            self.pump(min(deadline, time.monotonic() + 0.2))
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(2)


def _sample_row(t: float, prev: dict, totals: dict, server: dict | None, cpu: dict,
                prev_cpu: dict, interval: float, server_cpu: float | None) -> dict:
    """One line of the time series: client-side rates plus what the server said."""
    delta = {k: totals[k] - prev.get(k, 0) for k in ("ops", "get_keys", "hits", "sets")}
    row = {"t": round(t, 3), "ops_s": delta["ops"] / interval if interval else 0.0,
           "keys_s": delta["get_keys"] / interval if interval else 0.0,
           "hit_ratio": delta["hits"] / delta["get_keys"] if delta["get_keys"] else None,
           **{k: totals[k] for k in ("ops", "hits", "misses", "set_oom", "too_large", "corrupt",
                                      "stale", "conn_errors", "timeouts", "protocol_errors",
                                      "server_errors")}}
    row["gen_cpu"] = [round(100 * (c - prev_cpu[w][0]) / max(1e-6, wall - prev_cpu[w][1]), 1)
                      for w, (c, wall) in sorted(cpu.items()) if w in prev_cpu]
    row["server_cpu"] = server_cpu
    row["server"] = server
    return row


class _CpuMeter:
    """The server's CPU use in % of one core between two samples."""

    def __init__(self):
        self.last: tuple[float, float] | None = None

    def __call__(self, sample: dict | None) -> float | None:
        if not sample or sample.get("cpu_seconds") is None:
            return None
        now = (sample["cpu_seconds"], time.monotonic())
        last, self.last = self.last, now
        if last is None or now[1] <= last[1]:
            return None
        return round(100 * (now[0] - last[0]) / (now[1] - last[1]), 1)


def _resolve_pid(target: Target, sampler: StatsSampler) -> int | None:
    if target.server is not None:
        return target.server.pid
    first = sampler.sample()
    pid = first.get("pid") if first else None
    return pid if isinstance(pid, int) and looks_like_cache_server(pid) else None


def run_once(opts: StressOptions, target: Target, progress=None) -> RunResult:
    """Runs the workload against `target`; `progress` is a callback(row, elapsed) or None."""
    result = RunResult(target.label, list(target.server.argv) if target.server else None)
    if opts.stats_from:
        sampler = MultiSampler(opts.stats_from)      # pids come from each server's stats
    else:
        sampler = StatsSampler(target.host, target.port, tls_ca=opts.tls_ca)
        target.pid = target.pid or _resolve_pid(target, sampler)
    workers = _Workers(opts, target)
    cores = _load_cores(opts)
    workers.start(cores)
    try:
        if not workers.wait_ready(READY_TIMEOUT):
            result.crashes = list(workers.crashes.values()) or ["workers did not get ready in time"]
            return result
        _measure(opts, target, sampler, workers, result, progress)
    finally:
        workers.finish(opts.reply_timeout + 10)
        sampler_final = sampler.sample(target.pid) if target.alive() else None
        sampler.close()
    _collect(workers, result)
    ends = [f["wall"] for f in workers.finals.values() if "wall" in f]
    if ends and result.started:
        result.duration = max(ends) - result.started
    result.final_stats = sampler_final
    if target.server is not None:
        result.server_died = result.server_died or not target.server.alive()
        result.server_exit = target.server.returncode
    return result


def _measure(opts, target, sampler, workers, result, progress) -> None:
    cpu_meter, machine_cpu = _CpuMeter(), MachineCpuMeter()
    cpu_meter(sampler.sample(target.pid))
    workers.go.set()
    start = result.started = time.monotonic()
    hard_end = start + (opts.duration if opts.duration > 0 else 24 * 3600) + opts.reply_timeout + 5
    prev_totals, prev_cpu, prev_t = {}, {}, 0.0
    while True:
        workers.pump(start + (len(result.samples) + 1) * SAMPLE_INTERVAL)
        now = time.monotonic() - start
        sample = sampler.sample(target.pid)
        totals = workers.totals()
        row = _sample_row(now, prev_totals, totals, sample, workers.cpu(), prev_cpu,
                          now - prev_t, cpu_meter(sample))
        row["machine_cpu"] = machine_cpu()
        row["tail"] = opts.duration > 0 and now > opts.duration + 0.25   # workers winding down
        result.samples.append(row)
        prev_totals, prev_cpu, prev_t = totals, workers.cpu(), now
        if progress:
            progress(row, now)
        if not target.alive() or sampler.failures >= DEAD_AFTER_FAILED_SAMPLES:
            result.server_died = True
            break
        if workers.all_ended() or workers.crashes or time.monotonic() > hard_end:
            break
    result.duration = time.monotonic() - start


def _load_cores(opts: StressOptions) -> set[int] | None:
    if not opts.pin:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[1:]) if len(cpus) > 1 else None


def _collect(workers: _Workers, result: RunResult) -> None:
    result.totals = workers.totals()
    result.crashes.extend(workers.crashes.values())
    hists: dict[str, LatencyHistogram] = {}
    for final in workers.finals.values():
        for name, count in final.get("verdicts", {}).items():
            result.verdicts[name] = result.verdicts.get(name, 0) + count
        result.problems.extend(final.get("problems", []))
        for kind, data in final.get("latency", {}).items():
            hists.setdefault(kind, LatencyHistogram()).merge(LatencyHistogram.from_dict(data))
    result.latency = {kind: h.summary() for kind, h in hists.items()}
