"""Warm restart, memcached 1.6.18 `-e` vs ours: the same bytes before and after a graceful
stop get the same replies (what survives, its flags, CAS and TTL), and `shutdown`,
`cache_memlimit` and `stats settings` answer alike with a memory file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.differential

MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")

needs_memcached = pytest.mark.skipif(not os.path.exists(MEMCACHED),
                                     reason=f"no memcached binary at {MEMCACHED}")


def _port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Daemon:
    def __init__(self, ours: bool, mem: str, *extra: str):
        self.port = _port()
        common = ["-U", "0", "-l", "127.0.0.1", "-p", str(self.port), "-m", "64", "-e", mem,
                  *extra]
        self.argv = ([sys.executable, "-m", "memcache_py", *common] if ours
                     else [MEMCACHED, "-u", "root", "-t", "1", *common])

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), 1)
                self.sock.settimeout(5)
                return
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)

    def cmd(self, data: bytes, end: bytes = b"\r\n") -> bytes:
        self.sock.sendall(data)
        buf = b""
        while not buf.endswith(end):
            chunk = self.sock.recv(65536)
            if not chunk:
                return buf + b"<closed>"
            buf += chunk
        return buf

    def stop(self, sig=signal.SIGUSR1) -> int:
        if sig:
            self.proc.send_signal(sig)
        rc = self.proc.wait(30)
        self.sock.close()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def pair(tmp_path):
    daemons = [Daemon(False, str(tmp_path / "theirs"), "-A"),
               Daemon(True, str(tmp_path / "ours"), "-A")]
    yield daemons
    for d in daemons:
        d.kill()


WRITES = [b"set plain 0 0 5\r\nhello\r\n", b"set flagged 4242 0 3\r\nabc\r\n",
          b"set short 0 2 1\r\nx\r\n", b"set long 7 1000 4\r\nkeep\r\n",
          b"set gone 0 0 1\r\ng\r\n", b"delete gone\r\n", b"incr missing 1\r\n",
          b"set n 0 0 2\r\n10\r\n", b"incr n 5\r\n", b"append plain 0 0 3\r\n!!!\r\n"]
READ = b"gets plain flagged short long gone n\r\n"


@needs_memcached
def test_what_survives_a_graceful_restart(pair):
    replies = []
    for d in pair:
        d.start()
        got = [d.cmd(w) for w in WRITES] + [d.cmd(READ, b"END\r\n")]
        assert d.stop() == 0
        time.sleep(3)                     # past the stop's second, and past `short`'s TTL
        d.start()
        got.append(d.cmd(READ, b"END\r\n"))
        got.append(d.cmd(b"cas long 0 0 1 %s\r\nz\r\n" % _cas(got[-1], b"long")))
        got.append(d.cmd(b"set new 0 0 1\r\nn\r\n") + d.cmd(b"gets new\r\n", b"END\r\n"))
        replies.append(got)
    assert replies[1] == replies[0]
    assert b"VALUE long 7 4" in replies[0][-3] and b"short" not in replies[0][-3]


def _cas(reply: bytes, key: bytes) -> bytes:
    for line in reply.split(b"\r\n"):
        if line.startswith(b"VALUE " + key + b" "):
            return line.split()[4]
    return b"0"


@needs_memcached
def test_shutdown_memlimit_and_settings_with_a_memory_file(pair):
    out = []
    for d in pair:
        d.start()
        settings = d.cmd(b"stats settings\r\n", b"END\r\n")
        line = [ln for ln in settings.split(b"\r\n") if ln.startswith(b"STAT memory_file ")]
        out.append((d.cmd(b"shutdown now\r\n"), d.cmd(b"cache_memlimit 100\r\n"),
                    d.cmd(b"cache_memlimit 4\r\n"), len(line),
                    line[0].endswith(b"/theirs") or line[0].endswith(b"/ours"),
                    d.cmd(b"shutdown graceful\r\n"), d.stop(0)))
    assert out[1] == out[0]
    assert out[0][0] == b"CLIENT_ERROR invalid shutdown mode\r\n"
    assert out[0][5] == b"<closed>"
