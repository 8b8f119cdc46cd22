"""Trace readers: each format streamed as `(ts, op, key, size, ttl)` tuples, never a list.

memcached's `watch fetchers mutations` log (from memcached or from us), Twitter's cache-trace
CSV (plain or zstd), libCacheSim's `oracleGeneral` binary and its simple CSV. Memory is one
read buffer, whatever the trace's length. A damaged record is a `TraceError` naming the file
and line (or byte offset), or is counted and skipped with `skip_bad_lines`.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

GET, SET, ADD, REPLACE, DELETE = range(5)   # the operations the engine knows
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ORACLE_RECORD = struct.Struct("<IQIq")      # timestamp, obj_id, obj_size, next_access_vtime
FORMATS = ("watch", "twitter", "oracle", "csv")
READ_CHUNK = 1 << 20

# Twitter's operations; cas/append/prepend change an existing value: replayed as a replace
# of the recorded size. incr/decr/touch and anything else are lookups of an existing item.
TWITTER_OPS = {b"get": GET, b"gets": GET, b"set": SET, b"add": ADD, b"replace": REPLACE,
               b"cas": REPLACE, b"append": REPLACE, b"prepend": REPLACE, b"delete": DELETE,
               b"incr": GET, b"decr": GET}
WATCH_STORE_CMDS = {b"set": SET, b"add": ADD, b"replace": REPLACE, b"cas": REPLACE,
                    b"append": REPLACE, b"prepend": REPLACE}
U32_SIGNED = 1 << 31


class TraceError(Exception):
    """A trace that cannot be read: the message names the file and where."""


class Trace:
    """One trace file: its format, and a fresh stream of its requests on each `requests()`.

    `writes` says whether the format can record sets at all (see `records_sets`). `position()` is how many bytes of the file have been read so far,
    for a progress bar.
    """

    def __init__(self, path: str, fmt: str | None = None, *, skip_bad_lines: bool = False):
        self.path = path
        self.skip_bad_lines = skip_bad_lines
        self.skipped = 0                        # damaged records skipped
        self._raw: BinaryIO | None = None
        self.compressed = _is_zstd(path)
        self.size = os.path.getsize(path)
        self.format = fmt or self._detect()
        if self.format not in FORMATS:
            raise TraceError(f"{path}: unknown format {self.format!r} "
                             f"(one of {', '.join(FORMATS)})")
        self.writes = self.format in ("watch", "twitter")

    def records_sets(self, sample: int = 200_000) -> bool:
        """Whether the trace stores values itself: any set/add/replace in its first `sample`
        requests (then a get miss is not followed by a fill unless asked)."""
        if not self.writes:
            return False
        skip, self.skip_bad_lines = self.skip_bad_lines, True
        try:
            for i, (_, op, _, _, _) in enumerate(self.requests()):
                if op != GET and op != DELETE:
                    return True
                if i >= sample:
                    break
            return False
        finally:
            self.skip_bad_lines, self.skipped = skip, 0

    def position(self) -> int:
        raw = self._raw
        try:
            return raw.tell() if raw is not None and not raw.closed else self.size
        except (OSError, ValueError):
            return self.size

    def _open(self) -> BinaryIO:
        raw = open(self.path, "rb")
        self._raw = raw
        if not self.compressed:
            return raw
        import zstandard  # a dependency; imported here so plain traces never need it
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw),  # type: ignore
                                 READ_CHUNK)

    def _detect(self) -> str:
        name = os.path.basename(self.path).lower()
        if "oraclegeneral" in name:
            return "oracle"
        try:
            f = self._open()
            head = f.read(4096)
            f.close()
        except Exception as exc:        # zstd damage, unreadable file
            raise TraceError(f"{self.path}: cannot read: {exc}") from None
        if not head:
            raise TraceError(f"{self.path}: empty trace")
        return detect(head, self.path)

    def requests(self) -> Iterator[tuple[int, int, bytes, int, int]]:
        reader = {"watch": self._watch, "twitter": self._twitter, "oracle": self._oracle,
                  "csv": self._csv}[self.format]
        f = self._open()
        try:
            yield from reader(f)
        except (OSError, EOFError) as exc:
            raise TraceError(f"{self.path}: cannot read: {exc}") from None
        finally:
            f.close()

    def _bad(self, lineno: int, why: str) -> None:
        if not self.skip_bad_lines:
            raise TraceError(f"{self.path}:{lineno}: {why} (--skip-bad-lines to skip it)")
        self.skipped += 1

    # ---- Twitter: timestamp,key,key size,value size,client id,operation,TTL ---------------
    def _twitter(self, f: BinaryIO):
        bad, ops = self._bad, TWITTER_OPS
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            ts, _, rest = line.partition(b",")
            fields = rest.rsplit(b",", 5)
            try:
                if len(fields) != 6:
                    raise ValueError("expected 7 comma-separated fields")
                key, ksize, vsize, _client, op, ttl = fields
                opc = ops.get(op)
                if opc is None:
                    raise ValueError(f"unknown operation {op.decode(errors='replace')!r}")
                ksize_n = int(ksize)
                if len(key) < ksize_n:          # the anonymised key is shorter: keep the size
                    key = key + b"\0" * (ksize_n - len(key))
                yield int(ts), opc, key, int(vsize), int(ttl)
            except ValueError as exc:
                bad(lineno, str(exc))

    # ---- libCacheSim oracleGeneral: 24-byte little-endian records ---------------------------
    def _oracle(self, f: BinaryIO):
        record = ORACLE_RECORD.size
        at = 0
        tail = b""
        while True:
            chunk = f.read(READ_CHUNK)
            if not chunk:
                break
            data = tail + chunk
            usable = len(data) - len(data) % record
            for ts, obj, size, _next in ORACLE_RECORD.iter_unpack(data[:usable]):
                yield ts, GET, b"%d" % obj, size, 0
            at += usable
            tail = data[usable:]
        if tail:
            self._bad(at // record + 1, f"truncated record at byte {at} "
                                        f"({len(tail)} of {record} bytes)")

    # ---- libCacheSim simple CSV: time,obj_id,obj_size[,...] with an optional header ---------
    def _csv(self, f: BinaryIO):
        cols = (0, 1, 2, None, None)            # time, id, size, op, ttl
        bad, ops = self._bad, TWITTER_OPS
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            fields = line.split(b",")
            if lineno == 1 and not fields[0].strip().lstrip(b"-").isdigit():
                cols = _csv_header(fields, self.path)
                self.writes = cols[3] is not None
                continue
            try:
                t, k, s, o, l = cols
                opc = GET if o is None else ops.get(fields[o].strip())
                if opc is None:
                    raise ValueError(f"unknown operation {fields[o].strip().decode(errors='replace')!r}")
                yield (int(fields[t]), opc, fields[k].strip(), int(fields[s]),
                       0 if l is None else int(fields[l]))
            except (ValueError, IndexError) as exc:
                bad(lineno, str(exc) if isinstance(exc, ValueError) and "operation" in str(exc)
                    else "expected numeric time,obj_id,obj_size fields")

    # ---- memcached `watch fetchers mutations` ---------------------------------------------
    def _watch(self, f: BinaryIO):
        """item_get lines are gets; item_store lines that stored are sets. memcached looks a key
        up before every store and logs it as an item_get of the same key and connection just
        before the item_store: that lookup is not a client's get, so it is dropped."""
        held = None                                 # an item_get that may be a store's lookup
        held_key = held_cfd = None
        for lineno, line in enumerate(f, 1):
            if not line.startswith(b"ts="):
                if line.strip() in (b"OK", b"") or line.startswith(b"skipped="):
                    continue
                self._bad(lineno, "not a watch log line (expected ts=...)")
                continue
            try:
                fields = dict(part.split(b"=", 1) for part in line.split())
                kind = fields[b"type"]
                ts = int(fields[b"ts"].partition(b".")[0])
                if kind == b"item_get":
                    if held is not None:
                        yield held
                    held = (ts, GET, unquote_to_bytes(fields[b"key"]), int(fields[b"size"]), 0)
                    held_key, held_cfd = fields[b"key"], fields[b"cfd"]
                    continue
                if kind != b"item_store":
                    continue                        # evictions, conn events: not requests
                if held is not None:
                    if not (held_key == fields[b"key"] and held_cfd == fields[b"cfd"]):
                        yield held
                    held = None
                op = WATCH_STORE_CMDS.get(fields[b"cmd"])
                if op is None or fields[b"status"] in (b"too_large", b"no_memory"):
                    continue
                ttl = int(fields[b"ttl"])
                if ttl >= U32_SIGNED:               # an exptime in the past, logged unsigned
                    ttl = -1
                yield ts, op, unquote_to_bytes(fields[b"key"]), int(fields[b"size"]), ttl
            except KeyError as exc:
                self._bad(lineno, f"bad watch log line (no {exc.args[0].decode()}= field)")
            except ValueError as exc:
                self._bad(lineno, f"bad watch log line ({exc})")
        if held is not None:
            yield held


def _csv_header(fields: list[bytes], path: str) -> tuple:
    names = [f.strip().lower().decode(errors="replace") for f in fields]

    def col(*candidates: str, required: bool = True):
        for c in candidates:
            if c in names:
                return names.index(c)
        if required:
            raise TraceError(f"{path}:1: header has no {candidates[0]} column")
        return None
    return (col("time", "timestamp", "clock_time"), col("obj_id", "id", "key"),
            col("obj_size", "size", "value_size"), col("op", "operation", required=False),
            col("ttl", required=False))


def _is_zstd(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == ZSTD_MAGIC
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None


def detect(head: bytes, path: str = "trace") -> str:
    """The format of a trace from its first bytes (decompressed)."""
    if head.startswith(b"ts=") or head.startswith(b"OK\r\n"):
        return "watch"
    line = head.split(b"\n", 1)[0].strip()
    try:
        line.decode("ascii")
    except UnicodeDecodeError:
        return "oracle"
    if not line or b"\0" in head:
        return "oracle"
    fields = line.split(b",")
    if len(fields) >= 7 and fields[-2].strip() in TWITTER_OPS:
        return "twitter"
    if len(fields) >= 3:
        return "csv"
    raise TraceError(f"{path}: cannot tell the trace format; give --format "
                     f"({', '.join(FORMATS)})")
