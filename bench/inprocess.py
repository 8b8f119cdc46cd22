"""Per-request Python cost, in-process: `MemcacheProtocol.data_received` on a stub transport.

The method of docs/performance.md ("Where the Python time goes"): no sockets and no event loop
turn, so the figure is the daemon's own Python per request, repeatable enough to compare two
versions of the hot path (best of several timeit repeats). Run it as
`python -m bench.inprocess [--repeat 7] [--number 20000]`. For a figure that does not depend
on the machine's load, count instructions: run `--only W --count N` under
`valgrind --tool=callgrind` for two counts (with PYTHONHASHSEED=0) and divide the difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit

from memcache_py.connection import MemcacheProtocol
from memcache_py.server import build_daemon
from memcache_py.settings import Settings

VALUE = b"v" * 100
KEYS = [b"key:%08d" % i for i in range(1000)]


class StubTransport:
    """Just enough of asyncio.Transport for MemcacheProtocol; counts what it is given."""

    def __init__(self):
        self.written = 0

    def write(self, data) -> None:
        self.written += len(data)

    def get_extra_info(self, name, default=None):
        return default

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connected_protocol(settings: Settings | None = None) -> MemcacheProtocol:
    daemon = build_daemon(settings or Settings())
    proto = MemcacheProtocol(daemon)
    proto.connection_made(StubTransport())     # type: ignore[arg-type]
    return proto


def requests() -> dict[str, list[bytes]]:
    """One list of request reads per workload, cycled through by the timer."""
    sets = [b"set %s 0 0 %d\r\n%s\r\n" % (k, len(VALUE), VALUE) for k in KEYS]
    gets = [b"get %s\r\n" % k for k in KEYS]
    multi = [b"get " + b" ".join(KEYS[i:i + 10]) + b"\r\n" for i in range(0, len(KEYS), 10)]
    miss = [b"get nokey:%08d\r\n" % i for i in range(len(KEYS))]
    return {"get": gets, "set": sets, "get10": multi, "miss": miss}


def measure(repeat: int, number: int) -> dict[str, float]:
    """Best-of-`repeat` microseconds per request for each workload."""
    proto = connected_protocol()
    work = requests()
    for data in work["set"]:            # the keys exist, so gets hit
        proto.data_received(data)
    out = {}
    for name, reads in work.items():
        n = len(reads)
        state = {"i": 0}

        def one(reads=reads, n=n, state=state, feed=proto.data_received):
            i = state["i"]
            feed(reads[i])
            state["i"] = (i + 1) % n
        best = min(timeit.repeat(one, number=number, repeat=repeat))
        out[name] = best / number * 1e6
    return out


def run_only(workload: str, count: int) -> None:
    """Serve `count` requests of one workload and nothing else: run under
    `valgrind --tool=callgrind` with two counts, the difference of the instruction totals
    over the difference of the counts is the cost of one request, the same on every run."""
    proto = connected_protocol()
    work = requests()
    for data in work["set"]:
        proto.data_received(data)
    reads = work[workload]
    feed = proto.data_received
    for i in range(count):
        feed(reads[i % len(reads)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--only", choices=sorted(requests()), help="serve just this workload...")
    ap.add_argument("--count", type=int, default=0, help="...this many times (for callgrind)")
    ap.add_argument("--general-path", action="store_true",
                    help="turn off parser.lone_request, to measure what the shortcut saves")
    args = ap.parse_args(argv)
    if args.general_path:
        from memcache_py.parser import RequestParser
        RequestParser.lone_request = lambda self, data: None    # type: ignore[method-assign]
    if args.only:
        run_only(args.only, args.count)
        return 0
    figures = measure(args.repeat, args.number)
    for name, us in figures.items():
        print(f"{name:6s} {us:6.2f} us/request")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
