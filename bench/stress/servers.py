"""Start and stop the servers under test: ours and memcached, on free loopback ports.

Both get the same memory flags (`-m -M -I -f -n`), `-t 1 -U 0 -l 127.0.0.1` and the same extra
arguments, so our defaults meet memcached's defaults and `-o no_modern` meets `-o no_modern`;
memcached also gets `-u root` when run as root. Optionally pinned to a core with taskset.
Output goes to a log file, whose tail is shown when a server fails to start or dies.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS_CMD = (sys.executable, "-m", "memcache_py")
LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerSpec:
    name: str                               # "ours" or "memcached": labels in reports
    argv: tuple[str, ...]                   # everything but "-p PORT"
    cwd: str = str(REPO_ROOT)


def ours_spec(flags: list[str], cmd: tuple[str, ...] = OURS_CMD,
              extra: tuple[str, ...] = ()) -> ServerSpec:
    return ServerSpec("ours", (*cmd, "-l", LOOPBACK, "-U", "0", "-t", "1", *flags, *extra))


def memcached_spec(flags: list[str], extra: tuple[str, ...] = (),
                   binary: str = "memcached") -> ServerSpec:
    """memcached with the flags our daemon gets (its defaults unless `extra` says otherwise)."""
    user = ("-u", "root") if hasattr(os, "geteuid") and os.geteuid() == 0 else ()
    return ServerSpec("memcached", (binary, *user, "-t", "1", "-U", "0",
                                    "-l", LOOPBACK, *flags, *extra))


def memcached_available(binary: str = "memcached") -> bool:
    return shutil.which(binary) is not None


def ours_available(cmd: tuple[str, ...] = OURS_CMD, timeout: float = 30.0) -> bool:
    """True when `<cmd> --help` exits 0 (the daemon exists and starts)."""
    try:
        done = subprocess.run([*cmd, "--help"], cwd=REPO_ROOT, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def taskset_prefix(cores: str | None) -> list[str]:
    """`taskset -c CORES` when asked for and available, else nothing."""
    if cores is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cores]


def can_connect(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class ManagedServer:
    """A server process we started; use as a context manager so it is always stopped."""

    spec: ServerSpec
    log_path: Path
    cores: str | None = None                  # e.g. "0": pinned with taskset
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def argv(self) -> list[str]:
        return [*taskset_prefix(self.cores), *self.spec.argv, "-p", str(self.port)]

    def start(self, timeout: float = 20.0) -> "ManagedServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=self.spec.cwd, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"{self.spec.name} exited with {self.proc.returncode} "
                                       f"at start:\n{self.log_tail()}")
            if can_connect(self.host, self.port, 0.2):
                return self
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(f"{self.spec.name} did not accept connections within {timeout}s:\n"
                               f"{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
