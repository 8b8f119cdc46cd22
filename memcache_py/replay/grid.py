"""The grid: every configuration replays the same trace in its own process, on all cores.

Each worker opens the trace itself and streams it (nothing is shipped between processes but
the configuration and its result), so memory is one cache per worker, whatever the trace's
length. Progress is bytes of the trace file read, summed over workers in shared memory.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from .engine import Config, Result, replay
from .formats import Trace

_progress = None            # per-configuration bytes read, shared with the parent
_slot = -1


def configs(memory_mb: list[int], factors: list[float], lrus: list[str], *,
            chunk_size: int = 48, item_size_max: str = "1m") -> list[Config]:
    return [Config(m, f, lru, chunk_size, item_size_max)
            for lru, f, m in itertools.product(lrus, factors, memory_mb)]


def run_one(path: str, fmt: str | None, skip_bad: bool, fill: bool | None, config: Config,
            slot: int = -1) -> Result:
    """Replay the trace at `path` through one configuration (in a worker, or inline)."""
    trace = Trace(path, fmt, skip_bad_lines=skip_bad)
    shared = _progress

    def progress(_count: int) -> None:
        if shared is not None and slot >= 0:
            shared[slot] = trace.position()
    result = replay(config, trace.requests(), fill=(not trace.records_sets()) if fill is None else fill,
                    progress=progress)
    result.skipped_lines = trace.skipped
    if shared is not None and slot >= 0:
        shared[slot] = trace.size
    return result


def _init(progress) -> None:
    global _progress
    _progress = progress


def run_grid(path: str, grid: list[Config], *, fmt: str | None = None,
             skip_bad: bool = False, fill: bool | None = None, jobs: int | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> list[Result]:
    """Results in `grid` order. `on_progress(done_bytes, total_bytes)` is called as it goes."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(grid)))
    size = Trace(path, fmt, skip_bad_lines=skip_bad).size
    total = size * len(grid)
    if jobs == 1:
        results = []
        for i, config in enumerate(grid):
            results.append(run_one(path, fmt, skip_bad, fill, config))
            if on_progress:
                on_progress(size * (i + 1), total)
        return results
    ctx = multiprocessing.get_context("spawn" if os.name != "posix" else "fork")
    shared = ctx.Array("q", len(grid), lock=False)
    results: list[Result | None] = [None] * len(grid)
    with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init,
                             initargs=(shared,)) as pool:
        futures = {pool.submit(run_one, path, fmt, skip_bad, fill, c, i): i
                   for i, c in enumerate(grid)}
        pending = set(futures)
        while pending:
            done = {f for f in pending if f.done()}
            for f in done:
                try:
                    results[futures[f]] = f.result()  # re-raises a worker's TraceError
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
            pending -= done
            if on_progress:
                on_progress(sum(shared), total)
            if pending:
                time.sleep(0.2)
    return results  # type: ignore[return-value]
