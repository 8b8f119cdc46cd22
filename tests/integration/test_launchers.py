"""`memcache-py` standing in for `memcached` under launchers that look for it on PATH.

pifpaf passes `-p PORT` as one word, pytest-services `-s <socket>`, tcptest and init scripts
`-p -l -U 0 -m -c -t -u -A`, daemon managers `-d -P`. Each runs here through a `memcached` on
PATH that is this checkout's daemon (docs/testing.md shows the same shim), and pifpaf's own
memcached fixture is started against it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_port, wait_until
from tests.integration.helpers import Conn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shim_path(tmp_path) -> str:
    """A PATH whose `memcached` is memcache-py (of this interpreter and checkout)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "memcached"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m memcache_py \"$@\"\n")
    shim.chmod(0o755)
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


def env_with(path: str) -> dict[str, str]:
    return dict(os.environ, PATH=path, PYTHONPATH=str(ROOT))


def set_get(conn: Conn) -> None:
    assert conn.cmd(b"set launcher 0 0 2\r\nok\r\n") == b"STORED\r\n"
    assert conn.cmd(b"get launcher\r\n", b"END\r\n") == b"VALUE launcher 0 2\r\nok\r\nEND\r\n"


@pytest.mark.parametrize("style", ["pifpaf", "tcptest", "init-script"])
def test_tcp_launch_lines(style, shim_path):
    port = free_port()
    argv = {
        "pifpaf": [f"-p {port}"],                 # one word, with the space, as pifpaf does
        "tcptest": ["-p", str(port), "-U", "0", "-l", "127.0.0.1"],
        "init-script": ["-m", "64", "-c", "1024", "-t", "4", "-u", "memcache", "-A", "-U", "0",
                        "-l", "127.0.0.1", "-p", str(port)],
    }[style]
    proc = subprocess.Popen(["memcached", *argv], env=env_with(shim_path), cwd=ROOT)
    try:
        wait_port("127.0.0.1", port)
        conn = Conn("127.0.0.1", port)
        set_get(conn)
        if "-A" in argv:
            conn.send(b"shutdown\r\n")
            assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0


def test_unix_socket_as_pytest_services_starts_it(shim_path, tmp_path):
    path = tmp_path / "memcached.sock"
    proc = subprocess.Popen(["memcached", "-s", str(path)], env=env_with(shim_path), cwd=ROOT)
    try:
        assert wait_until(path.exists, 20)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(path))
            s.sendall(b"set u 0 0 1\r\nx\r\nget u\r\n")
            reply = b""
            while not reply.endswith(b"END\r\n"):
                reply += s.recv(4096)
        assert reply == b"STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_daemonized_with_a_pid_file(shim_path, tmp_path):
    port, pidfile = free_port(), tmp_path / "memcached.pid"
    try:
        res = subprocess.run(["memcached", "-d", "-P", str(pidfile), "-p", str(port), "-u",
                              "nobody"], env=env_with(shim_path), cwd=ROOT, timeout=30,
                             capture_output=True)
        assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")
        # the file exists a moment before its line is written
        assert wait_until(lambda: pidfile.exists() and pidfile.read_text().endswith("\n"), 20)
        wait_port("127.0.0.1", port)
        set_get(Conn("127.0.0.1", port))
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
        assert wait_until(lambda: not pidfile.exists(), 20)
    finally:
        for pid in _pids_with_arg(str(pidfile)):      # whatever happened, no daemon is left
            os.kill(pid, signal.SIGKILL)


def _pids_with_arg(arg: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and arg.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def test_pifpaf_run_memcached(shim_path):
    pytest.importorskip("pifpaf")
    pifpaf = Path(sys.executable).parent / "pifpaf"
    port = free_port()
    client = textwrap.dedent("""
        import os
        from pymemcache.client.base import Client
        port = int(os.environ["PIFPAF_MEMCACHED_PORT"])
        c = Client(("127.0.0.1", port))
        assert c.set("pifpaf", b"works", noreply=False)
        print(os.environ["PIFPAF_URL"], c.get("pifpaf").decode(), c.version().decode())
    """)
    res = subprocess.run([str(pifpaf), "run", "memcached", "--port", str(port), "--",
                          sys.executable, "-c", client], env=env_with(shim_path), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout == f"memcached://localhost:{port} works 1.6.18\n"
    assert wait_until(lambda: not _listening(port), 20)       # pifpaf stopped it


def test_pifpaf_memcached_fixture_in_process(shim_path, monkeypatch):
    drivers = pytest.importorskip("pifpaf.drivers.memcached")
    monkeypatch.setenv("PATH", shim_path)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    port = free_port()
    with drivers.MemcachedDriver(port=port) as driver:
        assert driver.env["PIFPAF_MEMCACHED_PORT"] == str(port)
        set_get(Conn("127.0.0.1", port))
    assert wait_until(lambda: not _listening(port), 20)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True
