"""What the stress load asks for: keys, value sizes, TTLs, the op mix, and the values themselves.

A value is derived from its key and a version number, so any reader can check a value it gets
back without asking the writer (bench/stress/verifier.py does):

    0        8        16       24                                   length
    | crc32(key) | version | length |  PATTERN[offset : offset + length - 24] |
      8 hex      8 hex     8 hex      offset = f(crc32(key), version)

`PATTERN` is one fixed pseudo-random byte string, the same in every process. Keys are
`<prefix><8 hex digits of the key index>`; the prefix carries a per-run id so that values left on
a server by an earlier run are never mistaken for this run's. Every generator here takes its
randomness from a `random.Random` / numpy Generator seeded per worker: the same seed gives the
same sequence of requests against every server.
"""

from __future__ import annotations

import bisect
import random
import time
import re
import zlib
import numpy as np

HEADER_LEN = 24                 # crc32(key), version, length: 8 lowercase hex digits each
MIN_VALUE_SIZE = HEADER_LEN     # a shorter value could not carry its own header
PATTERN_PERIOD = 65521          # offsets into PATTERN: a prime, so versions spread evenly
_PATTERN_SEED = 0x5EED_CAFE
_pattern = b""                  # grown on demand to PATTERN_PERIOD + the longest value asked for

# memcached's item size (spec/slabs.md §1): header + CAS, key + NUL, flags if set, data + CRLF
ITEM_OVERHEAD = 48 + 8 + 1 + 2
FLAGS_SIZE = 4
KEY_INDEX_DIGITS = 8


# ----------------------------------------------------------------------------------------------
# sizes and small specs

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)[bB]?\s*$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_size(text: str | int) -> int:
    """`100`, `16k`, `1m` -> bytes (binary units, as memcached's `-I` reads them)."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (use e.g. 100, 16k, 1m)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def parse_weights(text: str, convert=str) -> list[tuple[object, float]]:
    """`a=0.9,b=0.1` (or `a,b` for equal weights) -> [(convert(a), 0.9), (convert(b), 0.1)]."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        pairs.append((convert(name.strip()), float(weight) if weight else 1.0))
    if not pairs or any(w < 0 for _, w in pairs) or sum(w for _, w in pairs) <= 0:
        raise ValueError(f"bad weights: {text!r}")
    return pairs


class WeightedChoice:
    """Picks one of a few values by weight with one random() and a bisect."""

    def __init__(self, pairs: list[tuple[object, float]], rng: random.Random):
        total = sum(w for _, w in pairs)
        self.values = [v for v, _ in pairs]
        self.cumulative = []
        acc = 0.0
        for _, w in pairs:
            acc += w / total
            self.cumulative.append(acc)
        self.cumulative[-1] = 1.0
        self.rng = rng

    def __call__(self):
        if len(self.values) == 1:
            return self.values[0]
        return self.values[bisect.bisect_right(self.cumulative, self.rng.random())]


# ----------------------------------------------------------------------------------------------
# keys

def make_key(prefix: bytes, index: int) -> bytes:
    return prefix + b"%08x" % index


def key_index(prefix_len: int, key: bytes) -> int:
    """The index `make_key` encoded; ValueError if the key has no index where expected."""
    return int(key[prefix_len:], 16)


class KeyChooser:
    """Draws key indices for one worker: its own slice of the key space, uniform or Zipf.

    Worker `part` of `parts` owns the indices `part, part + parts, part + 2*parts, ...`; so
    no two workers ever write the same key and each can keep an exact ledger of its keys.
    Zipf rank r (0 = hottest) of the slice maps to index `part + r * parts`.
    """

    BATCH = 4096                    # Zipf draws per numpy call

    def __init__(self, n_keys: int, part: int, parts: int, dist: str = "uniform",
                 zipf_s: float = 0.99, seed: int = 0):
        if n_keys < parts:
            raise ValueError(f"key space ({n_keys}) smaller than the number of workers ({parts})")
        self.part, self.parts = part, parts
        self.local = len(range(part, n_keys, parts))
        self.dist = dist
        self.rng = random.Random(seed)
        self._np = np.random.default_rng(seed)
        self._batch: list[int] = []
        if dist == "zipf":
            weights = 1.0 / np.power(np.arange(1, self.local + 1, dtype=np.float64), zipf_s)
            self._cdf = np.cumsum(weights)
            self._cdf /= self._cdf[-1]
        elif dist != "uniform":
            raise ValueError(f"unknown key distribution {dist!r} (uniform, zipf)")

    def next_rank(self) -> int:
        if self.dist == "uniform":
            return self.rng.randrange(self.local)
        if not self._batch:
            draws = np.searchsorted(self._cdf, self._np.random(self.BATCH), side="right")
            self._batch = np.minimum(draws, self.local - 1).tolist()
        return self._batch.pop()

    def next_index(self) -> int:
        return self.part + self.next_rank() * self.parts

    def local_slot(self, index: int) -> int:
        """Position of a global index in this worker's slice (for the ledger's arrays)."""
        return (index - self.part) // self.parts

    def owns(self, index: int) -> bool:
        return index % self.parts == self.part


# ----------------------------------------------------------------------------------------------
# value sizes

def slab_chunk_sizes(chunk_size: int = 48, factor: float = 1.25, item_max: int = 1024 * 1024,
                     page_size: int = 1024 * 1024) -> list[int]:
    """memcached 1.6.18's class table (spec/slabs.md §2), chunk sizes only."""
    slab_chunk_max = page_size // 2
    sizes, size, i = [], 48 + chunk_size, 0
    while True:
        i += 1
        if i >= 63 or size >= slab_chunk_max / factor:
            break
        size = (size + 7) // 8 * 8
        sizes.append(size)
        size = int(size * factor)
    sizes.append(slab_chunk_max)
    if item_max > slab_chunk_max:           # larger items are chained chunks in memcached
        sizes.append(item_max)
    return sizes


class ValueSizes:
    """Value lengths from a spec.

    `100` fixed; `64-4096` uniform in a range; `mix:100=3,16k=1` a weighted set of sizes;
    `classes` or `classes:64k` one slab class drawn uniformly (up to the given item size), then a
    length that lands in that class for this key length. Lengths are at least MIN_VALUE_SIZE.
    """

    def __init__(self, spec: str, rng: random.Random, key_len: int = 16, chunk_size: int = 48,
                 factor: float = 1.25, item_max: int = 1024 * 1024):
        self.spec, self.rng = spec, rng
        overhead = ITEM_OVERHEAD + key_len + FLAGS_SIZE
        self.max_value = item_max - overhead
        spec = spec.strip()
        if spec.startswith("classes"):
            limit = parse_size(spec.partition(":")[2] or item_max)
            chunks = [c for c in slab_chunk_sizes(chunk_size, factor, item_max) if c <= limit]
            self._ranges = [(max(MIN_VALUE_SIZE, lo - overhead + 1), hi - overhead)
                            for lo, hi in zip([0] + chunks, chunks)
                            if hi - overhead >= MIN_VALUE_SIZE]
            self._draw = self._class
        elif spec.startswith("mix:"):
            self._choice = WeightedChoice(parse_weights(spec[4:], parse_size), rng)
            self._draw = self._choice
        elif "-" in spec:
            lo, hi = (parse_size(p) for p in spec.split("-", 1))
            if hi < lo:
                raise ValueError(f"empty size range {spec!r}")
            self._lo, self._hi = lo, hi
            self._draw = lambda: rng.randint(self._lo, self._hi)
        else:
            fixed = parse_size(spec)
            self._draw = lambda: fixed
        self.largest = self._largest()

    def _class(self) -> int:
        lo, hi = self._ranges[self.rng.randrange(len(self._ranges))]
        return self.rng.randint(lo, hi)

    def _largest(self) -> int:
        if hasattr(self, "_ranges"):
            return max(hi for _, hi in self._ranges)
        if hasattr(self, "_choice"):
            return max(self._choice.values)
        if hasattr(self, "_hi"):
            return self._hi
        return self._draw()

    def __call__(self) -> int:
        return max(MIN_VALUE_SIZE, self._draw())


def parse_size_shift(text: str) -> list[tuple[str, float | None]]:
    """`100:30s,2000` -> [("100", 30.0), ("2000", None)]: value-size phases, each a fixed size
    or a range with how long it lasts; the last one lasts to the end of the run."""
    phases: list[tuple[str, float | None]] = []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError(f"empty --size-shift {text!r}")
    for i, part in enumerate(parts):
        spec, sep, length = part.partition(":")
        if not sep:
            if i != len(parts) - 1:
                raise ValueError(f"--size-shift phase {part!r} needs a length (e.g. {part}:30s)")
            phases.append((spec, None))
            continue
        seconds = float(length.rstrip("s"))
        if seconds <= 0:
            raise ValueError(f"--size-shift phase {part!r}: the length must be positive")
        phases.append((spec, seconds))
    return phases


class SizeSchedule:
    """Value sizes that change over time (`--size-shift`): the phase is chosen by the seconds
    since the first value was made, so a working set can move from one slab class to another
    in the middle of a run (the slab calcification test)."""

    def __init__(self, text: str, rng: random.Random, clock=time.monotonic, **kw):
        self.phases = []
        end = 0.0
        for spec, seconds in parse_size_shift(text):
            end = None if seconds is None else end + seconds
            self.phases.append((ValueSizes(spec, rng, **kw), end))
        self.largest = max(sizes.largest for sizes, _ in self.phases)
        self.clock = clock
        self.start: float | None = None

    def phase_at(self, elapsed: float) -> int:
        for i, (_, end) in enumerate(self.phases):
            if end is None or elapsed < end:
                return i
        return len(self.phases) - 1

    def __call__(self) -> int:
        now = self.clock()
        if self.start is None:
            self.start = now
        return self.phases[self.phase_at(now - self.start)][0]()


# ----------------------------------------------------------------------------------------------
# op mix and TTLs

OPS = ("get", "set", "delete")


def parse_mix(text: str) -> list[tuple[str, float]]:
    pairs = parse_weights(text)
    for name, _ in pairs:
        if name not in OPS:
            raise ValueError(f"unknown op {name!r} in mix {text!r} (get, set, delete)")
    return pairs


def parse_ttls(text: str) -> list[tuple[int, float]]:
    """`0` (never expire), `0=0.9,2=0.1` (10% expire after 2 s)."""
    pairs = parse_weights(text, int)
    if any(ttl < 0 for ttl, _ in pairs):
        raise ValueError(f"negative TTL in {text!r}")
    return pairs


# ----------------------------------------------------------------------------------------------
# values

def _ensure_pattern(length: int) -> bytes:
    global _pattern
    need = PATTERN_PERIOD + length
    if len(_pattern) < need:
        size = max(need, 2 * len(_pattern), 1 << 20)
        _pattern = random.Random(_PATTERN_SEED).randbytes(size)
    return _pattern


def flags_for(version: int) -> int:
    """Client flags stored with a value: they are checked on read as well."""
    return version & 0xFFFF


def pattern_offset(key_crc: int, version: int) -> int:
    return (key_crc ^ (version * 2654435761)) % PATTERN_PERIOD


def make_value(key: bytes, version: int, length: int) -> bytes:
    """The value of `key` at `version`, `length` bytes (at least HEADER_LEN)."""
    if length < HEADER_LEN:
        raise ValueError(f"values are at least {HEADER_LEN} bytes")
    crc = zlib.crc32(key)
    body = length - HEADER_LEN
    offset = pattern_offset(crc, version)
    pattern = _ensure_pattern(body)
    return b"%08x%08x%08x" % (crc, version & 0xFFFFFFFF, length) + pattern[offset:offset + body]


def expected_body(key_crc: int, version: int, body_len: int) -> bytes:
    offset = pattern_offset(key_crc, version)
    return _ensure_pattern(body_len)[offset:offset + body_len]
