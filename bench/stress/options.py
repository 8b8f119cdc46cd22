"""The stress tool's command line: one frozen `StressOptions`, built and checked by `parse_args`.

Every knob lives here once, with its default and help; workers get the whole object (it
pickles), so a run is fully described by it and it is written into the JSON report.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import shlex
import sys
from dataclasses import asdict, dataclass

from bench.stress.workload import (SizeSchedule, ValueSizes, parse_mix, parse_size,
                                   parse_ttls)

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class StressOptions:
    # the server
    target: tuple[str, int] | None = None   # an already running server; None = start one
    stats_from: tuple[tuple[str, int], ...] = ()  # where `stats` is sampled; () = the target
    server: str = "ours"                     # which server to start: ours | memcached
    server_cmd: tuple[str, ...] = (sys.executable, "-m", "memcache_py")
    server_args: tuple[str, ...] = ()        # extra flags for the started server(s)
    compare_memcached: bool = False
    memory_mb: int = 32                      # -m
    no_evict: bool = False                   # -M
    item_max: str = "1m"                     # -I
    factor: float = 1.25                     # -f
    chunk_size: int = 48                     # -n
    pin: bool = False                        # taskset: server on core 0, load on the others
    tls_ca: str | None = None                # load and stats over TLS, trusting this CA
    tls_cert: str | None = None              # started servers get -Z with this pair
    tls_key: str | None = None
    # the workload
    keys: int = 100_000
    key_dist: str = "zipf"
    zipf_s: float = 0.99
    value_size: str = "64-4096"
    size_shift: str = ""              # value-size phases over time: "100:30s,2000"
    mix: str = "get=0.8,set=0.18,delete=0.02"
    ttl: str = "0=0.9,3=0.1"
    multiget: int = 1
    duration: float = 30.0
    ops: int | None = None
    workers: int = 2
    conns: int = 50                          # per worker process
    pipeline: int = 8                        # requests per batch on one connection
    rate: float | None = None                # total ops/s of all workers; None = flat out
    slow_readers: int = 2                    # connections that send gets and never read
    slow_writers: int = 2                    # connections that stall in the middle of a value
    stall: float = 2.0                       # seconds a slow writer waits mid-value
    reply_timeout: float = 10.0
    seed: int = 1
    key_prefix: str = ""                     # "" = st:<random run id>:
    # output
    out_dir: str = "bench/out"
    name: str = "stress"
    progress: bool = True
    png: bool = True

    def as_json(self) -> dict:
        data = asdict(self)
        data["target"] = f"{self.target[0]}:{self.target[1]}" if self.target else None
        data["stats_from"] = [f"{h}:{p}" for h, p in self.stats_from]
        return data

    def memory_flags(self) -> list[str]:
        """The `-m -M -I -f -n` flags both started servers get."""
        flags = ["-m", str(self.memory_mb), "-I", self.item_max, "-f", str(self.factor),
                 "-n", str(self.chunk_size)]
        return flags + (["-M"] if self.no_evict else [])


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host not in LOOPBACK_NAMES:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise argparse.ArgumentTypeError(
                f"{host} is not a loopback address: this tool only loads servers on this machine")
    return host, int(port)


def _host_ports(text: str) -> tuple[tuple[str, int], ...]:
    return tuple(_host_port(part) for part in text.split(",") if part.strip())


def build_parser() -> argparse.ArgumentParser:
    d = StressOptions()
    p = argparse.ArgumentParser(
        prog="python -m bench.stress",
        description="Memory-pressure stress of a memcached-compatible server. Every value read "
                    "back is verified; stats are sampled every second; a JSON and a PNG are "
                    "written. Exit status 1 if any value was wrong or the server died.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    srv = p.add_argument_group("server")
    srv.add_argument("--target", type=_host_port, metavar="HOST:PORT",
                     help="load a running server instead of starting one (loopback only)")
    srv.add_argument("--stats-from", type=_host_ports, default=(), metavar="HOST:PORT,...",
                     help="with --target: sample stats from these servers and add them up (the "
                          "instances behind a proxy such as twemproxy, which does not forward "
                          "`stats`); default: the target")
    srv.add_argument("--server", choices=("ours", "memcached"), default=d.server,
                     help="which server to start when there is no --target")
    srv.add_argument("--server-cmd", default=shlex.join(d.server_cmd),
                     help="command that starts ours; -p/-l/-U/-t and the memory flags are appended")
    srv.add_argument("--server-args", default="", help="extra flags for the started server(s)")
    srv.add_argument("--compare-memcached", action="store_true",
                     help="also run the same workload against a real memcached, one after the "
                          "other (add --ops for the same number of requests on both)")
    srv.add_argument("-m", dest="memory_mb", type=int, default=d.memory_mb,
                     help="server memory, MB")
    srv.add_argument("-M", dest="no_evict", action="store_true",
                     help="server returns errors instead of evicting")
    srv.add_argument("-I", dest="item_max", default=d.item_max, help="server item size limit")
    srv.add_argument("-f", dest="factor", type=float, default=d.factor, help="slab growth factor")
    srv.add_argument("-n", dest="chunk_size", type=int, default=d.chunk_size,
                     help="minimum item space")
    srv.add_argument("--tls-ca", metavar="PEM", default=None,
                     help="connect over TLS, trusting this CA (the server runs with -Z)")
    srv.add_argument("--tls-cert", metavar="PEM", default=None,
                     help="start the server(s) with -Z and this certificate (with --tls-key)")
    srv.add_argument("--tls-key", metavar="PEM", default=None)
    srv.add_argument("--pin", action="store_true",
                     help="with taskset: server on core 0, load processes on the other cores")
    load = p.add_argument_group("workload")
    load.add_argument("--keys", type=int, default=d.keys, help="key space size")
    load.add_argument("--key-dist", choices=("uniform", "zipf"), default=d.key_dist)
    load.add_argument("--zipf-s", type=float, default=d.zipf_s, help="Zipf exponent")
    load.add_argument("--value-size", default=d.value_size,
                      help="100 | 64-4096 (uniform) | mix:100=3,16k=1 | classes[:MAXSIZE] "
                           "(a slab class drawn uniformly); at least 24 bytes")
    load.add_argument("--size-shift", default=d.size_shift, metavar="SIZE:SECONDS,...,SIZE",
                      help="value sizes in phases instead of --value-size, e.g. 100:30s,2000 "
                           "(100-byte values for 30 s, then 2000-byte ones)")
    load.add_argument("--mix", default=d.mix, help="weights of get, set, delete")
    load.add_argument("--ttl", default=d.ttl, help="TTL seconds with weights; 0 = never expires")
    load.add_argument("--multiget", type=int, default=d.multiget, help="keys per get")
    load.add_argument("--duration", type=float, default=d.duration, help="seconds per server")
    load.add_argument("--ops", type=int, default=None, help="stop after this many ops instead")
    load.add_argument("--workers", type=int, default=d.workers, help="load processes")
    load.add_argument("--conns", type=int, default=d.conns, help="connections per load process")
    load.add_argument("--pipeline", type=int, default=d.pipeline, help="requests per batch")
    load.add_argument("--rate", type=float, default=None, help="limit to this many ops/s in total")
    load.add_argument("--slow-readers", type=int, default=d.slow_readers,
                      help="connections that send gets and stop reading")
    load.add_argument("--slow-writers", type=int, default=d.slow_writers,
                      help="connections that stall in the middle of a value")
    load.add_argument("--stall", type=float, default=d.stall, help="seconds a slow writer stalls")
    load.add_argument("--reply-timeout", type=float, default=d.reply_timeout)
    load.add_argument("--seed", type=int, default=d.seed)
    load.add_argument("--key-prefix", default="", help="default: st:<random run id>:")
    out = p.add_argument_group("output")
    out.add_argument("--out-dir", default=d.out_dir, help="where the JSON, PNG and server logs go")
    out.add_argument("--name", default=d.name, help="file name stem of the JSON and PNG")
    out.add_argument("--no-progress", dest="progress", action="store_false")
    out.add_argument("--no-png", dest="png", action="store_false")
    return p


def _check(opts: StressOptions) -> None:
    """Raises ValueError on a knob that cannot work."""
    parse_mix(opts.mix)
    parse_ttls(opts.ttl)
    item_max = parse_size(opts.item_max)
    ValueSizes(opts.value_size, random.Random(0), item_max=item_max)
    if opts.size_shift:
        SizeSchedule(opts.size_shift, random.Random(0), item_max=item_max)
    positive = {"keys": opts.keys, "workers": opts.workers, "conns": opts.conns,
                "pipeline": opts.pipeline, "multiget": opts.multiget, "memory_mb": opts.memory_mb}
    for name, value in positive.items():
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if opts.keys < opts.workers:
        raise ValueError("--keys must be at least --workers")
    if opts.duration <= 0 and not opts.ops:
        raise ValueError("give a positive --duration or --ops")
    if opts.rate is not None and opts.rate <= 0:
        raise ValueError("--rate must be positive")
    if opts.stats_from and not opts.target:
        raise ValueError("--stats-from goes with --target")
    if (opts.tls_cert is None) != (opts.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if opts.tls_cert and not opts.tls_ca:
        raise ValueError("--tls-cert needs --tls-ca (the CA the load trusts)")
    if opts.tls_cert and opts.target:
        raise ValueError("--tls-cert is for started servers; with --target give --tls-ca only")
    if opts.compare_memcached and opts.target:
        raise ValueError("--compare-memcached starts both servers itself: drop --target")


def parse_args(argv: list[str] | None = None) -> StressOptions:
    parser = build_parser()
    ns = parser.parse_args(argv)
    prefix = ns.key_prefix or f"st:{os.urandom(3).hex()}:"
    opts = StressOptions(
        target=ns.target, stats_from=ns.stats_from, server=ns.server,
        server_cmd=tuple(shlex.split(ns.server_cmd)),
        server_args=tuple(shlex.split(ns.server_args)), compare_memcached=ns.compare_memcached,
        memory_mb=ns.memory_mb, no_evict=ns.no_evict, item_max=ns.item_max, factor=ns.factor,
        chunk_size=ns.chunk_size, pin=ns.pin, tls_ca=ns.tls_ca, tls_cert=ns.tls_cert,
        tls_key=ns.tls_key, keys=ns.keys, key_dist=ns.key_dist,
        zipf_s=ns.zipf_s, value_size=ns.value_size, size_shift=ns.size_shift, mix=ns.mix, ttl=ns.ttl,
        multiget=ns.multiget, duration=ns.duration, ops=ns.ops, workers=ns.workers,
        conns=ns.conns, pipeline=ns.pipeline, rate=ns.rate, slow_readers=ns.slow_readers,
        slow_writers=ns.slow_writers, stall=ns.stall, reply_timeout=ns.reply_timeout,
        seed=ns.seed, key_prefix=prefix, out_dir=ns.out_dir, name=ns.name,
        progress=ns.progress, png=ns.png)
    try:
        _check(opts)
    except ValueError as exc:
        parser.error(str(exc))
    return opts
