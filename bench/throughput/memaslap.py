"""memaslap as a library: write its config file, run it (pinned), read what it measured.

memaslap's config file gives key and value size distributions and the set/get proportion:

    key
    64 64 1          <min> <max> <proportion>
    value
    100 100 1
    cmd
    0 0.1            0 = set, with its proportion
    1 0.9            1 = get

`-d N` makes each get a multi-get of N keys; memaslap then counts every key as one op, so
its TPS for that workload is keys per second. It prints `Run time: 5.0s Ops: N TPS: N ...`
at the end, and exits 0 even when it could not connect (then that line is missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.stress.servers import taskset_prefix

BINARIES = ("memcaslap", "memaslap")
_FINAL = re.compile(rb"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)")
_COUNTER = re.compile(rb"^(cmd_get|cmd_set|get_misses|written_bytes|read_bytes): (\d+)", re.M)


@dataclass(frozen=True)
class MemaslapLoad:
    """One memaslap workload."""

    value_size: int = 100
    key_size: int = 64
    set_proportion: float = 0.1
    concurrency: int = 128
    multiget: int = 1                # -d: keys per get
    threads: int = 1                 # -T

    def config(self) -> str:
        get = round(1.0 - self.set_proportion, 6)
        return (f"key\n{self.key_size} {self.key_size} 1\n"
                f"value\n{self.value_size} {self.value_size} 1\n"
                f"cmd\n0 {self.set_proportion}\n1 {get}\n")


@dataclass
class MemaslapResult:
    tps: float | None
    ops: int | None
    seconds: float | None
    counters: dict
    error: str | None = None


def find_memaslap() -> str | None:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def parse_output(out: bytes) -> MemaslapResult:
    final = None
    for final in _FINAL.finditer(out):      # the last one is the whole run's
        pass
    counters = {m.group(1).decode(): int(m.group(2)) for m in _COUNTER.finditer(out)}
    if final is None:
        tail = out.decode("latin-1", "replace").strip().splitlines()[-3:]
        return MemaslapResult(None, None, None, counters, f"no result line: {' | '.join(tail)}")
    return MemaslapResult(float(final.group(3)), int(final.group(2)), float(final.group(1)),
                          counters)


def command(binary: str, server: str, load: MemaslapLoad, config: Path, seconds: float,
            cores: str | None) -> list[str]:
    argv = [*taskset_prefix(cores), binary, "-s", server, "-F", str(config), "-t", f"{seconds:g}s",
            "-T", str(load.threads), "-c", str(load.concurrency)]
    if load.multiget > 1:
        argv += ["-d", str(load.multiget)]
    return argv


def run(binary: str, host: str, port: int, load: MemaslapLoad, seconds: float, workdir: Path,
        cores: str | None = "1") -> MemaslapResult:
    """One memaslap run of `seconds`, bounded by a timeout; never raises for a failed run."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / f"memaslap-{load.value_size}-{load.set_proportion}.cfg"
    config.write_text(load.config())
    argv = command(binary, f"{host}:{port}", load, config, seconds, cores)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        return MemaslapResult(None, None, None, {}, "memaslap did not finish in time")
    result = parse_output(done.stdout + done.stderr)
    if done.returncode != 0 and result.error is None:
        result.error = f"memaslap exited with {done.returncode}"
    return result
