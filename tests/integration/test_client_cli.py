"""memcache-cli against a daemon: typed at a pseudo-terminal, given arguments, fed on stdin."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


def cli(address: str, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memcache_py.cli", address, *args], cwd=ROOT,
                          input=stdin, capture_output=True, timeout=60)


class Terminal:
    """The client on a pseudo-terminal: type keys, wait for text, as a person at a prompt."""

    def __init__(self, address: str, tmp: Path):
        self.master, slave = os.openpty()
        env = dict(os.environ, TERM="xterm", HOME=str(tmp),
                   MEMCACHE_CLI_HISTFILE=str(tmp / "history"), INPUTRC="/dev/null")
        self.proc = subprocess.Popen([sys.executable, "-m", "memcache_py.cli", address],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def expect(self, text: str, timeout: float = 30) -> str:
        """Read until `text` appears in the output (escape sequences removed); what came."""
        want = text.encode()
        deadline = time.monotonic() + timeout
        while want not in ANSI.sub(b"", self.seen):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise AssertionError(f"no {text!r} in {ANSI.sub(b'', self.seen)!r}")
            try:
                chunk = os.read(self.master, 4096)
            except OSError:          # EIO: the client has exited
                raise AssertionError(f"no {text!r} in {ANSI.sub(b'', self.seen)!r}")
            self.seen += chunk
        clean = ANSI.sub(b"", self.seen)
        i = clean.index(want) + len(want)
        self.seen = clean[i:]
        return clean[:i].decode("utf-8", "replace")

    def close(self) -> int:
        try:
            return self.proc.wait(30)
        finally:
            os.close(self.master)


def test_typed_at_a_terminal_with_line_editing_and_history(daemon, tmp_path):
    address = f"127.0.0.1:{daemon.port}"
    term = Terminal(address, tmp_path)
    prompt = f"{address}> "
    term.expect(prompt)
    term.type(b"set greeting 0 0\r")              # no length: the client counts it
    term.expect("...> ")
    term.type(b"hello world\r")
    assert "STORED" in term.expect(prompt)
    term.type(b"et greeting\x01g\r")               # Ctrl-A: back to the start, add the g
    out = term.expect(prompt)
    assert re.search(r"key\s+flags\s+bytes\s+value\r?\n\s*greeting\s+0\s+11\s+hello world", out)
    term.type(b"incr greeting 1\r")
    assert "CLIENT_ERROR cannot increment or decrement non-numeric value" in term.expect(prompt)
    term.type(b"\x1b[A\x1b[A\r")                   # up, up: `get greeting` again
    assert "hello world" in term.expect(prompt)
    term.type(b"stats slabs\r")
    out = term.expect(prompt)
    assert re.search(r"class\s+1\s*\r?\n\s*chunk_size\s+96", out) and "active_slabs" in out
    term.type(b"\x04")                             # Ctrl-D
    assert term.close() == 0
    history = (tmp_path / "history").read_text().splitlines()
    assert history[-5:] == ["set greeting 0 0", "get greeting", "incr greeting 1",
                            "get greeting", "stats slabs"]
    assert "hello world" not in history            # data blocks are not commands

    term = Terminal(address, tmp_path)             # the history comes back next time
    term.expect(prompt)
    term.type(b"\x10\r")                           # Ctrl-P: the last command
    assert "active_slabs" in term.expect(prompt)
    term.type(b"exit\r")
    assert term.close() == 0


def test_a_command_as_arguments(daemon):
    address = f"127.0.0.1:{daemon.port}"
    assert cli(address, "set", "k", "5", "0", "hello").stdout == b"STORED\n"
    res = cli(address, "set", "bin", "0", "0", "-", stdin=b"a\x00b\r\n\xff")
    assert (res.returncode, res.stdout) == (0, b"STORED\n")
    res = cli(address, "gets", "k", "bin", "missing")
    lines = res.stdout.decode().splitlines()
    assert re.fullmatch(r"key\s+flags\s+bytes\s+cas\s+value", lines[0])
    assert re.fullmatch(r"k\s+5\s+5\s+\d+\s+hello", lines[1])
    assert re.fullmatch(r"bin\s+0\s+6\s+\d+\s+a\\x00b\\r\\n\\xff", lines[2])
    assert len(lines) == 3 and res.returncode == 0
    res = cli(address, "mg", "bin", "v", "f")
    assert res.stdout == b"VA 6 f0\n  a\\x00b\\r\\n\\xff\n"
    res = cli(address, "stats", "settings")
    assert re.search(rb"^maxbytes\s+67108864$", res.stdout, re.M)


@pytest.mark.parametrize("args, status, shown", [
    (["bogus"], 1, b"ERROR\n"),
    (["incr", "nokey", "x"], 1, b"CLIENT_ERROR invalid numeric delta argument\n"),
    (["set", "k", "0", "0", "-"], 1, b"SERVER_ERROR object too large for cache\n"),
    (["delete", "nokey"], 0, b"NOT_FOUND\n"),
    (["set", "q", "0", "0", "noreply", "v"], 0, b""),
])
def test_exit_status_tells_error_replies(daemon, args, status, shown):
    res = cli(f"127.0.0.1:{daemon.port}", *args, stdin=b"x" * 2_000_000)
    assert (res.returncode, res.stdout) == (status, shown)


def test_commands_on_stdin(daemon):
    script = (b"set a 0 0 3\nabc\n"                # a storage command's data: the next line
              b"append a 0 0\ndef\n"
              b"get a\n\n"
              b"delete a noreply\n"
              b"ms m T0\nmeta value\n"
              b"mg m v s\n"
              b"version\n")
    res = cli(f"127.0.0.1:{daemon.port}", stdin=script)
    lines = res.stdout.decode().splitlines()
    assert lines[:2] == ["STORED", "STORED"]
    assert re.fullmatch(r"a\s+0\s+6\s+abcdef", lines[3])
    assert lines[4:] == ["HD", "VA 10 s10", "  meta value", "VERSION 1.6.18"]
    assert res.returncode == 0
    res = cli(f"127.0.0.1:{daemon.port}", stdin=b"get a\nset\nget a\n")
    assert res.stdout == b"END\nERROR\nEND\n" and res.returncode == 1


def test_unreachable_server_is_status_2(daemon):
    from tests.conftest import free_port
    res = cli(f"127.0.0.1:{free_port()}", "version")
    assert res.returncode == 2 and b"Connection refused" in res.stderr
    assert b"Traceback" not in res.stderr


def test_console_script_and_default_address():
    exe = Path(sys.executable).parent / "memcache-cli"
    if not exe.exists():
        pytest.skip("memcache-cli console script not installed")
    res = subprocess.run([str(exe), "--help"], capture_output=True, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith(b"usage: memcache-cli")


@pytest.fixture(params=["ours", "memcached"])
def watched(request):
    """A server that speaks `watch`: ours, and memcached (skipped where it is missing)."""
    return request.getfixturevalue("daemon" if request.param == "ours" else "memcached")


def test_watch_streams_until_interrupted(watched):
    """`watch` turns the connection into a log stream; the client shows it until Ctrl-C."""
    from tests.integration.helpers import Conn
    proc = subprocess.Popen([sys.executable, "-m", "memcache_py.cli",
                             f"127.0.0.1:{watched.port}", "watch", "fetchers"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"OK\n"
        conn = Conn("127.0.0.1", watched.port)
        conn.cmd(b"get watched\r\n", b"END\r\n")
        line = proc.stdout.readline()
        assert b"key=watched" in line and b"ts=" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_refused_is_an_error_reply(daemon):
    res = cli(f"127.0.0.1:{daemon.port}", "watch", "bogus")
    assert res.returncode == 1 and res.stdout.split(b" ")[0].rstrip() in (b"ERROR",
                                                                         b"CLIENT_ERROR")
