"""Fill a server past its memory limit and read back what it kept: the memory workloads.

Over one TCP connection, `keys` sets `set key:%012d 0 0 <size> noreply` are sent pipelined in
batches of `batch`, then `mn` and `stats`: the server handles one connection's requests in
order, so when the stats reply arrives every set has been processed. Prints one JSON object
with the server's `curr_items`, `evictions`, `total_items` and `limit_maxbytes`, how long the
fill took, and any reply lines other than MN and the stats (a noreply set that fails may
still answer, e.g. SERVER_ERROR).

The process RSS is not read here (this client does not know the server's pid): bench/
throughput/compare.py reads it from /proc/<pid>/status once this has exited.

Run as `python -m bench.throughput.memfill --port P --keys N --value-size S`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass

KEY_FORMAT = b"key:%012d"
STATS_KEPT = ("curr_items", "evictions", "total_items", "limit_maxbytes", "bytes")


@dataclass(frozen=True)
class MemoryFill:
    keys: int                 # sets sent: about 1.4x what fits in -m 64, so the cache is full
    value_size: int           # bytes per value
    batch: int = 500          # sets per write


def fill_batch(start: int, stop: int, value_size: int) -> bytes:
    """The sets of keys start..stop-1, noreply, ready to write in one go."""
    value = b"v" * value_size
    head = b"set " + KEY_FORMAT + b" 0 0 %d noreply\r\n" % value_size
    tail = b"\r\n"
    return b"".join(head % i + value + tail for i in range(start, stop))


def parse_stats(data: bytes) -> tuple[dict[str, str], list[str]]:
    """A reply ending in the `stats` output: ({name: value}, the lines that are neither STAT,
    END, MN nor empty)."""
    stats, other = {}, []
    for line in data.decode("ascii", "replace").split("\r\n"):
        parts = line.split(" ", 2)
        if parts[0] == "STAT" and len(parts) == 3:
            stats[parts[1]] = parts[2]
        elif line not in ("", "END", "MN"):
            other.append(line)
    return stats, other


def summarize_fill(stats: dict[str, str], other: list[str], fill: MemoryFill,
                   seconds: float) -> dict:
    """The JSON object this tool prints: the stats kept as ints, the other replies counted."""
    out: dict = {"keys_sent": fill.keys, "value_size": fill.value_size, "batch": fill.batch,
                 "fill_seconds": round(seconds, 3),
                 "sets_per_s": round(fill.keys / seconds) if seconds > 0 else None}
    for name in STATS_KEPT:
        try:
            out[name] = int(stats[name])
        except (KeyError, ValueError):
            out[name] = None
    replies = Counter(other)
    out["other_replies"] = sum(replies.values())
    out["other_reply_kinds"] = dict(replies.most_common(5))
    return out


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    buf = bytearray()
    while not buf.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before {end!r}")
        buf += chunk
    return bytes(buf)


def run(host: str, port: int, fill: MemoryFill, timeout: float = 300.0) -> dict:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        t0 = time.perf_counter()
        for start in range(0, fill.keys, fill.batch):
            sock.sendall(fill_batch(start, min(start + fill.batch, fill.keys), fill.value_size))
        sock.sendall(b"mn\r\nstats\r\n")
        reply = _read_until(sock, b"END\r\n")
        seconds = time.perf_counter() - t0
    stats, other = parse_stats(reply)
    return summarize_fill(stats, other, fill, seconds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.throughput.memfill", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--keys", type=int, required=True, help="sets to send")
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--batch", type=int, default=500, help="sets per write")
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("loopback only")
    result = run(args.host, args.port, MemoryFill(args.keys, args.value_size, args.batch))
    json.dump(result, sys.stdout)
    print()
    return 0 if result["curr_items"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
