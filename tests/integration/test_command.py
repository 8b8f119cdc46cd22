"""The installed `memcache-py` command as a user runs it, in a subprocess."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import wait_until

from .helpers import Conn

pytestmark = pytest.mark.integration


def command():
    exe = shutil.which("memcache-py") or os.path.join(os.path.dirname(sys.executable),
                                                       "memcache-py")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "memcache_py"]


def start_on_ephemeral_port(tmp_path):
    """`memcache-py -p -1`; the port comes back through MEMCACHED_PORT_FILENAME."""
    portfile = tmp_path / "port"
    env = dict(os.environ, MEMCACHED_PORT_FILENAME=str(portfile))
    proc = subprocess.Popen(command() + ["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-m", "8"],
                            env=env)
    wait_until(lambda: portfile.exists() or proc.poll() is not None, 15, 0.05)
    line = portfile.read_text().splitlines()[0]
    assert line.startswith("TCP INET: ")
    return proc, int(line.split(": ")[1])


def test_ephemeral_port_file_and_sigterm(tmp_path):
    proc, port = start_on_ephemeral_port(tmp_path)
    try:
        c = Conn("127.0.0.1", port)
        assert c.cmd(b"set a 0 0 1\r\nb\r\n") == b"STORED\r\n"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - start < 1.5
    finally:
        proc.kill()
        proc.wait()


def test_bad_flag_exits_nonzero_before_binding():
    proc = subprocess.run(command() + ["-c", "0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0


def test_sighup_is_survived_and_sigusr1_stops_gracefully(tmp_path):
    proc, port = start_on_ephemeral_port(tmp_path)
    try:
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        assert proc.poll() is None
        assert Conn("127.0.0.1", port).cmd(b"version\r\n").startswith(b"VERSION")
        proc.send_signal(signal.SIGUSR1)
        assert proc.wait(5) == 0
    finally:
        proc.kill()
        proc.wait()
