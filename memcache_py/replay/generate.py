"""Synthetic traces: Zipf-popular keys in size populations, written in any replay format.

`python -m memcache_py.replay.generate -o trace.csv --requests 1000000 --keys 200000
--alpha 0.9 --sizes 100:0.8,3000:0.2` writes a get-only trace (a cache-aside client fills its
misses) whose key i always has the same value size, drawn from the populations by weight.
For the docs' worked example, the tests and the replay benchmark; streamed in blocks.
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections.abc import Iterator

import numpy as np

BLOCK = 1 << 16


def parse_sizes(text: str) -> list[tuple[int, float]]:
    """`100:0.8,3000:0.2` -> [(100, 0.8), (3000, 0.2)]"""
    out = []
    for part in text.split(","):
        size, _, weight = part.partition(":")
        out.append((int(size), float(weight or 1)))
    return out


def requests(n: int, keys: int, alpha: float, sizes: list[tuple[int, float]], *,
             seed: int = 1, rate: int = 0, ttl: int = 0) -> Iterator[tuple[int, bytes, int, int]]:
    """(ts, key, value size, ttl) of n gets; `rate` requests per trace second (0: all at 0)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, keys + 1, dtype=np.float64) ** alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    # each key's size population, fixed per key; a random permutation keeps popularity and
    # size independent
    p = np.array([w for _, w in sizes], dtype=np.float64)
    key_size = np.array([s for s, _ in sizes])[rng.choice(len(sizes), keys, p=p / p.sum())]
    ids = rng.permutation(keys)
    done = 0
    while done < n:
        m = min(BLOCK, n - done)
        ranks = np.searchsorted(cdf, rng.random(m))
        for j, r in enumerate(ranks.tolist()):
            i = done + j
            yield (i // rate if rate else 0), b"key:%d" % ids[r], int(key_size[r]), ttl
        done += m


def write(path: str, fmt: str, reqs, *, zstd: bool = False) -> None:
    raw = open(path, "wb")
    f = raw
    if zstd:
        import zstandard
        f = zstandard.ZstdCompressor().stream_writer(raw)
    try:
        if fmt == "twitter":
            for ts, key, size, ttl in reqs:
                f.write(b"%d,%s,%d,%d,1,get,%d\n" % (ts, key, len(key), size, ttl))
        elif fmt == "csv":
            f.write(b"time,obj_id,obj_size\n")
            for ts, key, size, _ in reqs:
                f.write(b"%d,%s,%d\n" % (ts, key[4:], size))
        elif fmt == "oracle":
            pack = struct.Struct("<IQIq").pack
            for ts, key, size, _ in reqs:
                f.write(pack(ts, int(key[4:]), size, -1))
        else:
            raise ValueError(f"cannot write format {fmt!r}")
    finally:
        f.close()
        if not raw.closed:
            raw.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m memcache_py.replay.generate",
                                description="Write a synthetic Zipf trace for replay.")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=("twitter", "csv", "oracle"), default="twitter")
    p.add_argument("--zstd", action="store_true", help="zstd-compress the output")
    p.add_argument("--requests", type=int, default=1_000_000)
    p.add_argument("--keys", type=int, default=100_000)
    p.add_argument("--alpha", type=float, default=0.9, help="Zipf exponent")
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes("100:0.8,3000:0.2"),
                   help="value sizes and weights, e.g. 100:0.8,3000:0.2")
    p.add_argument("--rate", type=int, default=1000, help="requests per trace second")
    p.add_argument("--ttl", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    write(a.output, a.format, requests(a.requests, a.keys, a.alpha, a.sizes, seed=a.seed,
                                       rate=a.rate, ttl=a.ttl), zstd=a.zstd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
