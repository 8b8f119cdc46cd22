"""Once a second: the server's `stats`, `stats slabs` and `stats items`, its RSS and its CPU.

Parsing is pure (`parse_stats`, `parse_slabs`, `parse_items`) so tests feed it replies
captured from memcached 1.6.18. `StatsSampler` keeps one blocking socket with a short timeout
and reconnects when it must; a server that answers an unknown stats group with `ERROR` still
gives the groups it knows. RSS and CPU come from /proc for a local pid.
"""

from __future__ import annotations

import os
import socket
import ssl
import time

GENERAL_KEYS = ("pid", "uptime", "curr_items", "total_items", "bytes", "evictions", "reclaimed",
                "expired_unfetched", "evicted_unfetched", "cmd_get", "cmd_set", "get_hits",
                "get_misses", "get_expired", "delete_hits", "delete_misses", "curr_connections",
                "total_connections", "limit_maxbytes", "rusage_user", "rusage_system",
                "store_too_large", "store_no_memory", "lrutail_reflocked", "bytes_read",
                "bytes_written", "listen_disabled_num", "conn_yields", "slab_global_page_pool")
MOVER_KEYS = ("slabs_moved",)        # only from a server with slab_reassign on
_MAX_REPLY = 4 << 20
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_stats(reply: bytes | str) -> dict:
    """`STAT <name> <value>` lines (until END) -> {name: int | float | str}."""
    if isinstance(reply, bytes):
        reply = reply.decode("latin-1")
    stats = {}
    for line in reply.splitlines():
        if line == "END":
            break
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            stats[parts[1]] = _number(parts[2])
    return stats


def parse_slabs(reply: bytes | str) -> tuple[dict[int, dict], dict]:
    """`stats slabs` -> ({class id: {field: value}}, {global field: value})."""
    per_class: dict[int, dict] = {}
    totals = {}
    for name, value in parse_stats(reply).items():
        cls, sep, field = name.partition(":")
        if sep and cls.isdigit():
            per_class.setdefault(int(cls), {})[field] = value
        else:
            totals[name] = value
    return per_class, totals


def parse_items(reply: bytes | str) -> dict[int, dict]:
    """`stats items` (`items:<id>:<field>`) -> {class id: {field: value}}."""
    per_class: dict[int, dict] = {}
    for name, value in parse_stats(reply).items():
        parts = name.split(":")
        if len(parts) == 3 and parts[0] == "items" and parts[1].isdigit():
            per_class.setdefault(int(parts[1]), {})[parts[2]] = value
    return per_class


def read_rss(pid: int) -> int | None:
    """Resident set size in bytes from /proc/<pid>/status, None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK   # utime, stime (fields 14, 15)
    except (OSError, ValueError, IndexError):
        return None


def read_system_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)     # idle + iowait
    total = sum(fields[:8])                                       # guest time is already in user
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


class MachineCpuMeter:
    """Busy CPU of the whole machine between two calls, in % of ONE core (200 = 2 cores busy)."""

    def __init__(self):
        self.last = read_system_cpu()
        self.cores = os.cpu_count() or 1

    def __call__(self) -> float | None:
        now = read_system_cpu()
        last, self.last = self.last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return round(100 * self.cores * (now[0] - last[0]) / (now[1] - last[1]), 1)


def looks_like_cache_server(pid: int) -> bool:
    """True if /proc/<pid> is a memcached-like process on this machine (for a --target's pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"memcache" in f.read()
    except OSError:
        return False


class StatsSampler:
    """Blocking stats queries on one loopback connection, each bounded by `timeout`."""

    def __init__(self, host: str, port: int, timeout: float = 2.0, tls_ca: str | None = None):
        self.host, self.port, self.timeout = host, port, timeout
        self.tls_ca = tls_ca                # stats over TLS too, trusting this CA
        self.sock: socket.socket | None = None
        self.failures = 0                  # consecutive samples that got no `stats` at all

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def query(self, command: bytes) -> bytes | None:
        """One stats command's whole reply, or None if the server did not answer in time."""
        try:
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                if self.tls_ca:
                    ctx = ssl.create_default_context(cafile=self.tls_ca)
                    ctx.check_hostname = False
                    self.sock = ctx.wrap_socket(self.sock)
            self.sock.sendall(command + b"\r\n")
            return self._read_reply()
        except (OSError, TimeoutError, ValueError):
            self.close()
            return None

    def _read_reply(self) -> bytes:
        buf = bytearray()
        deadline = time.monotonic() + self.timeout
        while not _complete(buf):
            if time.monotonic() > deadline or len(buf) > _MAX_REPLY:
                raise ValueError("stats reply too slow or too long")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ValueError("connection closed")
            buf += chunk
        return bytes(buf)

    def sample(self, pid: int | None = None) -> dict | None:
        """One sample: selected general stats, per-class pages and OOMs, RSS and CPU."""
        general = self.query(b"stats")
        if general is None:
            self.failures += 1
            return None
        self.failures = 0
        stats = parse_stats(general)
        slabs, slab_totals = parse_slabs(self.query(b"stats slabs") or b"")
        items = parse_items(self.query(b"stats items") or b"")
        sample = {k: stats[k] for k in GENERAL_KEYS + MOVER_KEYS if k in stats}
        sample["total_malloced"] = slab_totals.get("total_malloced")
        sample["pages"] = {c: v.get("total_pages", 0) for c, v in sorted(slabs.items())}
        sample["outofmemory"] = sum(v.get("outofmemory", 0) for v in items.values())
        sample["oom_by_class"] = {c: v["outofmemory"] for c, v in items.items()
                                  if v.get("outofmemory")}
        if pid is not None:
            sample["rss"] = read_rss(pid)
            sample["cpu_seconds"] = read_cpu_seconds(pid)
        return sample


def _complete(buf: bytearray) -> bool:
    """A reply is whole at END on a line of its own, or after an error line."""
    if buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
        return buf.endswith(b"\r\n")
    return buf == b"END\r\n" or buf.endswith(b"\r\nEND\r\n")


class MultiSampler:
    """Several servers sampled as one (the instances behind a proxy): counters, items, bytes,
    pages, RSS and CPU are summed; `failures` counts samples in which no server answered."""

    _NOT_SUMMED = ("pid", "uptime")

    def __init__(self, addresses, timeout: float = 2.0):
        self.samplers = [StatsSampler(host, port, timeout) for host, port in addresses]
        self.pids: list[int | None] = [None] * len(self.samplers)
        self.failures = 0

    def close(self) -> None:
        for s in self.samplers:
            s.close()

    def sample(self, pid: int | None = None) -> dict | None:
        """`pid` is ignored: each server's own pid comes from its `stats`."""
        parts = []
        for i, sampler in enumerate(self.samplers):
            if self.pids[i] is None:
                one = sampler.sample()
                found = one.get("pid") if one else None
                if isinstance(found, int) and looks_like_cache_server(found):
                    self.pids[i] = found
            one = sampler.sample(self.pids[i])
            if one is not None:
                parts.append(one)
        if not parts:
            self.failures += 1
            return None
        self.failures = 0
        total: dict = {"servers": len(parts)}
        for one in parts:
            for key, value in one.items():
                if key in self._NOT_SUMMED or not isinstance(value, (int, float, dict)):
                    continue
                if isinstance(value, dict):
                    into = total.setdefault(key, {})
                    for c, v in value.items():
                        into[c] = into.get(c, 0) + v
                else:
                    total[key] = total.get(key, 0) + value
        total["uptime"] = max((one.get("uptime") or 0) for one in parts)
        return total
