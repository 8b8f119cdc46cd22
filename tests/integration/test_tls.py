"""TLS (-Z): pymemcache with and without client certificates, every way a handshake can fail,
refresh_certs, notls listeners, and the connection limit, on both event loops."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheUnknownCommandError

from tests.certs import make_pki
from tests.conftest import DaemonThread, free_port, wait_until
from tests.integration.helpers import Conn, stats

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_name(request):
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return request.param


@pytest.fixture
def tls_daemon(pki, loop_name):
    """make(**settings) -> a started TLS daemon on the parametrized event loop."""
    started = []

    def make(**kw):
        kw.setdefault("ssl_chain_cert", str(pki.server_cert))
        kw.setdefault("ssl_key", str(pki.server_key))
        listen = kw.pop("listen", None)
        d = DaemonThread(ssl_enabled=True, **kw)
        if listen:
            d.settings = dataclasses.replace(d.settings, listen=listen)
        if loop_name == "uvloop":
            import uvloop
            d.loop.close()
            d.loop = uvloop.new_event_loop()
        started.append(d.start())
        return d
    yield make
    for d in started:
        d.stop()


def tls_conn(d, ctx: ssl.SSLContext) -> Conn:
    conn = Conn(d.host, d.port)
    conn.sock = ctx.wrap_socket(conn.sock)
    return conn


def handshake_errors(d) -> int:
    return d.call(lambda: d.daemon.tls.handshake_errors)


def test_pymemcache_over_tls(tls_daemon, pki):
    d = tls_daemon()
    client = Client((d.host, d.port), tls_context=pki.client_context(), timeout=5)
    client.set("k", b"v" * 1000)
    assert client.get("k") == b"v" * 1000
    assert client.get_many(["k", "missing"]) == {"k": b"v" * 1000}
    big = os.urandom(300_000)                   # many TLS records each way
    client.set("big", big)
    assert client.get("big") == big
    s = client.stats()
    assert s[b"ssl_handshake_errors"] == 0
    assert b"time_since_server_cert_refresh" in s
    client.close()


def test_client_certificate_required(tls_daemon, pki):
    d = tls_daemon(ssl_verify_mode=2, ssl_ca_cert=str(pki.ca))
    with_cert = pki.client_context(cert=pki.client_cert, key=pki.client_key)
    client = Client((d.host, d.port), tls_context=with_cert, timeout=5)
    client.set("a", b"1")
    assert client.get("a") == b"1"
    client.close()
    for ctx in (pki.client_context(),                                   # no certificate
                pki.client_context(cert=pki.stranger_cert, key=pki.stranger_key)):  # wrong CA
        before = handshake_errors(d)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            conn = tls_conn(d, ctx)
            conn.cmd(b"version\r\n")            # TLS 1.3: the refusal arrives after the hello
        assert wait_until(lambda: handshake_errors(d) == before + 1)


def test_client_certificate_requested(tls_daemon, pki):
    d = tls_daemon(ssl_verify_mode=1, ssl_ca_cert=str(pki.ca))
    assert tls_conn(d, pki.client_context()).cmd(b"version\r\n").startswith(b"VERSION")
    good = pki.client_context(cert=pki.client_cert, key=pki.client_key)
    assert tls_conn(d, good).cmd(b"version\r\n").startswith(b"VERSION")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_conn(d, pki.client_context(cert=pki.stranger_cert, key=pki.stranger_key)).cmd(
            b"version\r\n")
    assert wait_until(lambda: handshake_errors(d) == 1)


def test_client_trusting_another_ca_refuses_and_is_counted(tls_daemon, pki):
    d = tls_daemon()
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_conn(d, pki.client_context(ca=pki.other_ca))
    assert wait_until(lambda: handshake_errors(d) == 1)
    assert tls_conn(d, pki.client_context()).cmd(b"version\r\n").startswith(b"VERSION")


def test_expired_server_certificate(tls_daemon, pki):
    d = tls_daemon(ssl_chain_cert=str(pki.expired_cert), ssl_key=str(pki.expired_key))
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        tls_conn(d, pki.client_context())
    assert wait_until(lambda: handshake_errors(d) == 1)


def test_clear_text_to_tls_port_costs_one_connection(tls_daemon, pki):
    d = tls_daemon()
    plain = Conn(d.host, d.port)
    plain.send(b"version\r\n")
    assert plain.is_closed(timeout=10)
    assert wait_until(lambda: handshake_errors(d) == 1)
    assert tls_conn(d, pki.client_context()).cmd(b"version\r\n").startswith(b"VERSION")
    assert d.call(lambda: len(d.daemon.tls.handshaking)) == 0


def test_stalled_handshake_is_cut_by_idle_timeout(tls_daemon, pki):
    d = tls_daemon(idle_timeout=1)
    stalled = socket.create_connection((d.host, d.port))
    stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello
    stalled.settimeout(15)
    assert stalled.recv(100) == b""             # closed by the handshake timeout
    assert handshake_errors(d) == 1
    assert tls_conn(d, pki.client_context()).cmd(b"version\r\n").startswith(b"VERSION")


def test_connection_limit_counts_handshakes(tls_daemon, pki):
    d = tls_daemon(max_connections=2)
    stalled = [socket.create_connection((d.host, d.port)) for _ in range(2)]
    assert wait_until(lambda: d.call(lambda: len(d.daemon.tls.handshaking)) == 2)
    third = Conn(d.host, d.port)        # refused before any handshake, in clear, as memcached
    assert third.read_until(b"\r\n") == b"ERROR Too many open connections\r\n"
    for s in stalled:
        s.close()
    assert wait_until(lambda: d.call(lambda: len(d.daemon.tls.handshaking)) == 0)
    assert tls_conn(d, pki.client_context()).cmd(b"version\r\n").startswith(b"VERSION")


def _served_serial(d, pki) -> int:
    conn = tls_conn(d, pki.client_context())
    der = conn.sock.getpeercert(binary_form=True)
    conn.close()
    from cryptography import x509
    return x509.load_der_x509_certificate(der).serial_number


def _serial(path) -> int:
    from cryptography import x509
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def test_refresh_certs_good_and_bad_pair(tls_daemon, pki, tmp_path):
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    d = tls_daemon(ssl_chain_cert=str(cert), ssl_key=str(key))
    assert _served_serial(d, pki) == _serial(pki.server_cert)
    conn = tls_conn(d, pki.client_context())
    shutil.copy(pki.server2_cert, cert)
    shutil.copy(pki.server2_key, key)
    assert conn.cmd(b"refresh_certs\r\n") == b"OK\r\n"
    assert int(stats(conn)["time_since_server_cert_refresh"]) <= 2
    assert _served_serial(d, pki) == _serial(pki.server2_cert)
    # a certificate whose key is not the one in ssl_key: refused, the old pair stays
    shutil.copy(pki.server_cert, cert)
    assert conn.cmd(b"refresh_certs\r\n") == (
        f"Error loading the key: {key} : error:05800074:x509 certificate routines::"
        "key values mismatch\r\n").encode()
    cert.write_text("garbage\n")
    assert conn.cmd(b"refresh_certs noreply\r\n") == (
        f"Error loading the certificate chain: {cert} : error:0480006C:PEM routines::"
        "no start line\r\n").encode()
    assert _served_serial(d, pki) == _serial(pki.server2_cert)
    assert conn.cmd(b"version\r\n").startswith(b"VERSION")   # the connection lives on
    shutil.copy(pki.server2_cert, cert)
    conn.send(b"refresh_certs noreply\r\n")
    assert conn.cmd(b"version\r\n").startswith(b"VERSION")   # OK is not sent with noreply


def test_notls_listener_beside_tls(tls_daemon, pki):
    d = tls_daemon(listen=("127.0.0.1", "notls:127.0.0.1"))
    (_, tls_port), (_, plain_port) = d.running.addresses
    plain = Conn("127.0.0.1", plain_port)
    assert plain.cmd(b"set p 0 0 1\r\nx\r\n") == b"STORED\r\n"
    secure = Conn("127.0.0.1", tls_port)
    secure.sock = pki.client_context().wrap_socket(secure.sock)
    assert secure.cmd(b"get p\r\n", b"END\r\n") == b"VALUE p 0 1\r\nx\r\nEND\r\n"
    assert stats(plain)["ssl_handshake_errors"] == "0"


def test_refresh_certs_without_tls(daemon):
    conn = Conn(daemon.host, daemon.port)
    assert conn.cmd(b"refresh_certs\r\n") == b"Error TLS not enabled\r\n"
    assert conn.cmd(b"refresh_certs noreply\r\n") == b"Error TLS not enabled\r\n"
    assert "ssl_handshake_errors" not in stats(conn)


def test_pymemcache_raises_on_refresh_certs_error_line(daemon):
    # pymemcache has no refresh_certs; a raw command shows how clients see the error line
    client = Client((daemon.host, daemon.port), timeout=5)
    with pytest.raises(MemcacheUnknownCommandError):
        client.raw_command(b"nosuchcommand")
    client.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_failed_handshakes_print_nothing_at_default_verbosity(pki, loop):
    """The CLI daemon: bad clients are counted, and stderr stays empty (no traceback)."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memcache_py", "-p", str(port), "-l", "127.0.0.1", "-Z",
         "-o", f"ssl_chain_cert={pki.server_cert},ssl_key={pki.server_key},loop={loop},"
               "idle_timeout=1"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()  # error no. 1
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        plain = Conn("127.0.0.1", port)
        plain.send(b"get foo\r\n")
        assert plain.is_closed(10)
        with pytest.raises(ssl.SSLError):
            c = Conn("127.0.0.1", port)
            pki.client_context(ca=pki.other_ca).wrap_socket(c.sock)
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
        stalled.settimeout(15)
        assert stalled.recv(10) == b""
        good = tls_conn(type("D", (), {"host": "127.0.0.1", "port": port}), pki.client_context())
        assert int(stats(good)["ssl_handshake_errors"]) == 4
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert err == b""


def test_peer_that_leaves_mid_handshake_leaves_nothing_behind(tls_daemon, pki):
    d = tls_daemon()
    socket.create_connection((d.host, d.port)).close()
    half = socket.create_connection((d.host, d.port))
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
    half.close()
    assert wait_until(lambda: handshake_errors(d) == 2)
    assert wait_until(lambda: d.call(lambda: (len(d.daemon.connections),
                                              len(d.daemon.tls.handshaking))) == (0, 0))


@pytest.mark.parametrize("cache", [False, True])
def test_session_resumption_only_with_ssl_session_cache(tls_daemon, pki, cache):
    d = tls_daemon(ssl_session_cache=cache)
    ctx = pki.client_context()
    first = tls_conn(d, ctx)
    assert first.cmd(b"version\r\n").startswith(b"VERSION")   # TLS 1.3 tickets come after
    session = first.sock.session
    first.close()
    again = Conn(d.host, d.port)
    again.sock = ctx.wrap_socket(again.sock, session=session)
    assert again.cmd(b"version\r\n").startswith(b"VERSION")
    assert again.sock.session_reused is cache
    s = stats(again)
    assert ("ssl_new_sessions" in s) is cache
    if cache:
        assert int(s["ssl_new_sessions"]) == 3      # two tickets, then one on resumption


def test_idle_tls_connection_is_kicked(tls_daemon, pki):
    d = tls_daemon(idle_timeout=1)
    conn = tls_conn(d, pki.client_context())
    assert conn.cmd(b"version\r\n").startswith(b"VERSION")
    conn.sock.settimeout(15)
    assert conn.sock.recv(10) == b""            # -o idle_timeout closes it, as in clear text
    assert wait_until(lambda: d.call(lambda: d.daemon.stats.idle_kicks) == 1)
