"""ASCII authentication (-Y): pymemcache and raw sockets, several users and connections, the
file reloaded on SIGHUP, a bad file refused at start, and -Y over TLS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

from memcache_py.server import reload_on_sighup
from tests.certs import make_pki
from tests.conftest import MEMCACHED, DaemonThread, MemcachedProcess, free_port, wait_until
from tests.integration.helpers import Conn, stats

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def authfile(tmp_path):
    path = tmp_path / "memcached.auth"
    path.write_text("alice:wonder\nbob:builder\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def auth_daemon(make_daemon, authfile):
    return make_daemon(auth_file=str(authfile))


def login(conn: Conn, user: str, password: str) -> bytes:
    block = f"{user} {password}".encode()
    return conn.cmd(b"set auth 0 0 %d\r\n%s\r\n" % (len(block), block))


@pytest.fixture(params=["ours", "memcached"])
def auth_server(request, make_daemon, authfile):
    """(host, port) of ours or of the real memcached, both with -Y."""
    if request.param == "memcached":
        if not MEMCACHED:
            pytest.skip("memcached binary not installed")
        mc = MemcachedProcess("-Y", str(authfile)).start()
        request.addfinalizer(mc.stop)
        return mc.host, mc.port
    d = make_daemon(auth_file=str(authfile))
    return d.host, d.port


def test_pymemcache_logs_in_with_a_set(auth_server):
    # the login set is answered even with noreply (memcached ignores it there), so the
    # client must read that answer: default_noreply=False
    client = Client(auth_server, timeout=5, default_noreply=False)
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        client.get("k")
    assert client.set("anything", "alice wonder") is True   # the credentials: STORED
    assert client.set("k", b"v") is True
    assert client.get("k") == b"v"
    assert client.get("anything") is None                    # the login stored nothing
    client.close()


def test_pymemcache_wrong_password(auth_server):
    client = Client(auth_server, timeout=5, default_noreply=False)
    with pytest.raises(MemcacheClientError, match="authentication failure"):
        client.set("x", "alice wrong")
    with pytest.raises(MemcacheClientError, match="unauthenticated"):
        client.get("k")
    client.close()


def test_several_users_and_connections(auth_daemon):
    d = auth_daemon
    alice, bob, eve, nobody = (Conn(d.host, d.port) for _ in range(4))
    assert login(alice, "alice", "wonder") == b"STORED\r\n"
    assert login(eve, "alice", "builder") == b"CLIENT_ERROR authentication failure\r\n"
    assert login(bob, "bob", "builder") == b"STORED\r\n"
    assert alice.cmd(b"set shared 0 0 1\r\na\r\n") == b"STORED\r\n"
    assert bob.cmd(b"get shared\r\n", b"END\r\n") == b"VALUE shared 0 1\r\na\r\nEND\r\n"
    for conn in (eve, nobody):        # still unauthenticated: every command refused
        assert conn.cmd(b"get shared\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
        assert conn.cmd(b"stats\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
        assert conn.cmd(b"mn\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
    assert nobody.cmd(b"set a 0 0 5\r\nalice\r\n") == (
        b"CLIENT_ERROR bad authentication token format\r\n")
    s = stats(alice)
    assert (s["auth_cmds"], s["auth_errors"]) == ("3", "1")
    assert dict(line.split(" ", 2)[1:] for line in alice.cmd(
        b"stats settings\r\n", b"END\r\n").decode().splitlines()[:-1])[
        "auth_enabled_ascii"] == str(d.settings.auth_file)


def test_pipelined_login_then_commands(auth_daemon):
    conn = Conn(auth_daemon.host, auth_daemon.port)
    conn.send(b"set a 0 0 12\r\nalice wonder\r\nset k 0 0 1\r\nx\r\nget k\r\n")
    assert conn.read_until(b"END\r\n") == b"STORED\r\nSTORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"


def test_no_newline_in_2048_bytes_closes(auth_daemon):
    conn = Conn(auth_daemon.host, auth_daemon.port)
    conn.send(b"g" * 3000)
    assert conn.is_closed(5)


def test_reload_on_sighup_in_process(auth_daemon, authfile):
    d = auth_daemon
    authfile.write_text("carol:new\n")
    d.call(reload_on_sighup, d.daemon)
    assert login(Conn(d.host, d.port), "carol", "new") == b"STORED\r\n"
    assert login(Conn(d.host, d.port), "alice", "wonder") == (
        b"CLIENT_ERROR authentication failure\r\n")
    authfile.write_text("malformed\n")
    d.call(reload_on_sighup, d.daemon)           # refused: the entries stay
    assert login(Conn(d.host, d.port), "carol", "new") == b"STORED\r\n"


def _spawn(*args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "memcache_py", "-p", str(port),
                             "-l", "127.0.0.1", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(proc.communicate()[1].decode())
            time.sleep(0.05)


def test_sighup_reloads_the_file(authfile):
    proc, port = _spawn("-Y", str(authfile))
    try:
        authfile.write_text("dave:secret\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: login(Conn("127.0.0.1", port), "dave", "secret")
                          == b"STORED\r\n", timeout=10)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"secret" not in err                    # passwords are never logged


@pytest.mark.parametrize("content, message", [
    (None, "Could not open authfile [{path}] for reading, error No such file or directory: "
           "No such file or directory"),
    ("alice:wonder\n\n", "Authfile [{path}] has a malformed entry. Should be 'user:password'"),
    ("nocolon\n", "Authfile [{path}] has a malformed entry. Should be 'user:password'"),
])
def test_bad_file_refused_at_start(tmp_path, content, message):
    path = tmp_path / "auth"
    if content is not None:
        path.write_text(content)
    result = subprocess.run([sys.executable, "-m", "memcache_py", "-p", "0", "-l", "127.0.0.1",
                             "-p", str(free_port()), "-Y", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stderr) == (1, message.format(path=path) + "\n")


def test_auth_over_tls(tmp_path, authfile):
    pki = make_pki(tmp_path)
    d = DaemonThread(auth_file=str(authfile), ssl_enabled=True,
                     ssl_chain_cert=str(pki.server_cert), ssl_key=str(pki.server_key)).start()
    try:
        client = Client((d.host, d.port), tls_context=pki.client_context(), timeout=5,
                        default_noreply=False)
        with pytest.raises(MemcacheClientError, match="unauthenticated"):
            client.get("k")
        assert client.set("login", "bob builder") is True
        assert client.set("k", b"tls") and client.get("k") == b"tls"
        client.close()
    finally:
        d.stop()
