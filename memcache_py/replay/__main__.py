"""`python -m memcache_py.replay TRACE ...` and the `memcache-py-replay` console script."""

from __future__ import annotations

import argparse
import sys

from .engine import LRU_MODES, ConfigError, check_settings
from .formats import FORMATS, Trace, TraceError
from .grid import configs, run_grid
from . import report


def _list(kind):
    def parse(text: str):
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of {kind.__name__}: {text!r}")
        if not values:
            raise argparse.ArgumentTypeError("empty list")
        return values
    return parse


def _lrus(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    for v in values:
        if v not in LRU_MODES:
            raise argparse.ArgumentTypeError(f"unknown LRU mode {v!r} (flat, segmented)")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="memcache-py-replay",
        description="Replay a recorded cache trace through memcache_py's slab allocator for a "
                    "grid of memory sizes and growth factors, and report the hit ratios.")
    p.add_argument("trace", help="the trace file (plain or zstd-compressed)")
    p.add_argument("--format", choices=FORMATS, help="the trace's format (default: detected)")
    p.add_argument("--memory", "-m", type=_list(int), default=[64],
                   help="memory sizes in MB, comma-separated (default 64)")
    p.add_argument("--growth-factor", "-f", type=_list(float), default=[1.25],
                   help="slab growth factors, comma-separated (default 1.25)")
    p.add_argument("--lru", type=_lrus, default=None,
                   help="LRU modes, comma-separated: flat (memcached -o no_modern), segmented "
                        "(memcached's default; not in memcache_py yet)")
    p.add_argument("--no-modern", action="store_true",
                   help="the flat LRU of memcached -o no_modern (what --lru flat means)")
    p.add_argument("--chunk-size", "-n", type=int, default=48, help="-n of the daemon")
    p.add_argument("--max-item-size", "-I", default="1m", help="-I of the daemon")
    fill = p.add_mutually_exclusive_group()
    fill.add_argument("--fill", dest="fill", action="store_true", default=None,
                      help="after a get miss, set the recorded size (the default for traces "
                           "that do not record their sets)")
    fill.add_argument("--no-fill", dest="fill", action="store_false",
                      help="never set after a miss; only the trace's own sets store")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="count and skip damaged records instead of stopping at the first")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="worker processes (default: one per core)")
    p.add_argument("--json", metavar="FILE", help="write the results as a JSON list")
    p.add_argument("--plot", metavar="PNG", help="write a plot (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    lrus = args.lru or ["flat"]
    grid = configs(args.memory, args.growth_factor, lrus, chunk_size=args.chunk_size,
                   item_size_max=args.max_item_size)
    try:
        for config in grid:
            config.argv()                       # refuse a bad configuration before starting
            check_settings(config)
        trace = Trace(args.trace, args.format, skip_bad_lines=args.skip_bad_lines)
        fill = not trace.records_sets() if args.fill is None else args.fill
        bar = None if args.no_progress else _bar(trace.size * len(grid))
        results = run_grid(args.trace, grid, fmt=trace.format, skip_bad=args.skip_bad_lines,
                           fill=fill, jobs=args.jobs,
                           on_progress=None if bar is None else bar.update_to)
        if bar is not None:
            bar.close()
    except (TraceError, ConfigError) as exc:
        print(f"memcache-py-replay: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"{args.trace}: {trace.format} trace, "
          f"{'a set after each miss' if fill else 'no fill after a miss'}"
          + (f", {results[0].skipped_lines} damaged lines skipped" if results[0].skipped_lines
             else ""))
    print(report.table(results))
    if args.json:
        report.write_json(results, args.json)
    if args.plot:
        try:
            report.plot(results, args.plot, title=f"{args.trace}")
        except ImportError:
            print("memcache-py-replay: --plot needs matplotlib (pip install matplotlib)",
                  file=sys.stderr)
            return 2
    return 0


def _bar(total: int):
    from tqdm import tqdm

    class Bar(tqdm):
        def update_to(self, done: int, _total: int) -> None:
            self.update(done - self.n)
    return Bar(total=total, unit="B", unit_scale=True, desc="replay", file=sys.stderr,
               leave=False, disable=None)


if __name__ == "__main__":
    sys.exit(main())
