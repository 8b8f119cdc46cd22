"""TLS (-Z) and ASCII authentication (-Y): memcached 1.6.18 vs memcache_py, same bytes.

Auth cases send clear text through the usual harness. TLS cases run their chunks through a
TLS client (`script=`) against both servers started with the same flags and certificates
(made once per run with tests/certs.py). Start-up refusals (bad certificate files, bad auth
files) compare exit status and memcached's last stderr line (OpenSSL's own trace lines
memcached prints before it are not compared).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.certs import make_pki

from . import harness
from .conftest import case_params, check_outcome
from .harness import Reply, case

pytestmark = pytest.mark.differential

AUTHFILE = str(Path(__file__).with_name("data") / "memcached.auth")   # alice:wonder, bob:builder
Y = ["-Y", AUTHFILE]
# Before a login, memcached sends only the last answer of each read (auth.py): two chunks
# that reach a busy server in one read would lose an answer on one side, so the auth cases
# leave each chunk time to be read alone.
AUTH_PAUSE = 0.25

_DIR = Path(tempfile.mkdtemp(prefix="diff-tls-"))
atexit.register(shutil.rmtree, _DIR, True)
PKI = make_pki(_DIR)
CERT_OPTS = f"ssl_chain_cert={PKI.server_cert},ssl_key={PKI.server_key}"
Z = ["-Z", "-o", CERT_OPTS]


def _max_version(version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = PKI.client_context()
    ctx.maximum_version = version
    return ctx


def VERIFY(mode: int) -> list[str]:
    return ["-Z", "-o", CERT_OPTS + f",ssl_verify_mode={mode},ssl_ca_cert={PKI.ca}"]


def tls_session(chunks, ctx_factory=PKI.client_context, quiet: float = 0.25):
    """A `script=`: send chunks over TLS, one by one, and read until quiet after each.

    A refused handshake (on either side, or TLS 1.3's refusal after the client's Finished,
    seen at the first read) is the reply `<TLS refused>` with the connection closed; so is a
    connection that ends before any reply at all. memcached sends the alert (the client reads
    "certificate required"), asyncio's TLS protocol drops it (the client reads EOF): both
    refuse, and compatibility.md lists the alert as a difference.
    """
    def run(ep: harness.Endpoint, ref: Reply | None) -> Reply:
        t0 = time.monotonic()
        raw = socket.create_connection(ep.addr, timeout=5)
        buf, closed = bytearray(), False
        try:
            s = ctx_factory().wrap_socket(raw)
        except (ssl.SSLError, OSError):
            raw.close()
            return Reply(b"<TLS refused>", True, time.monotonic() - t0)
        try:
            for chunk in chunks:
                s.sendall(chunk() if callable(chunk) else chunk)
                s.settimeout(quiet)
                while True:
                    try:
                        data = s.recv(65536)
                    except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
                        break
                    if not data:
                        closed = True
                        break
                    buf += data
                if closed:
                    if not buf:
                        return Reply(b"<TLS refused>", True, time.monotonic() - t0)
                    break
        except (ssl.SSLError, OSError):
            if buf:
                raise
            return Reply(b"<TLS refused>", True, time.monotonic() - t0)
        finally:
            s.close()
        return Reply(bytes(buf), closed, time.monotonic() - t0)
    return run


# ---- refresh_certs: both servers read the same live files, swapped between chunks ----------
LIVE = _DIR / "live"
LIVE.mkdir()
LIVE_CERT, LIVE_KEY = LIVE / "cert.pem", LIVE / "key.pem"


def _put(cert: Path | None, key: Path | None, garbage_cert: bool = False):
    def chunk() -> bytes:
        if garbage_cert:
            LIVE_CERT.write_text("garbage\n")
        elif cert is not None:
            shutil.copy(cert, LIVE_CERT)
        if key is not None:
            shutil.copy(key, LIVE_KEY)
        return b"refresh_certs\r\n"
    return chunk


shutil.copy(PKI.server_cert, LIVE_CERT)
shutil.copy(PKI.server_key, LIVE_KEY)
REFRESH = [_put(PKI.server_cert, PKI.server_key), _put(PKI.server2_cert, PKI.server2_key),
           _put(PKI.server_cert, None), _put(None, None, garbage_cert=True),
           b"refresh_certs noreply\r\n", _put(PKI.server_cert, PKI.server_key),
           b"refresh_certs noreply\r\nversion\r\n", b"refresh_certs a b\r\n"]

CORPUS = [
    # -- ASCII authentication --
    case("auth_every_command_refused", "get a\r\n", "version\r\n", "mn\r\n", "stats\r\n",
         "quit\r\n", "delete a\r\n", "\r\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_pipelined_refusals_send_the_last", "get a\r\nversion\r\nmn\r\n",
         "set a 0 0 11\r\nalice wrong\r\nget a\r\n", "get a\r\nset a 0 0 11\r\nalice wrong\r\n",
         flags=Y, pause=AUTH_PAUSE),
    case("auth_set_line_variants", "SET a 0 0 12\r\n", "set a 0 0\r\n", "set a 0 0 -1\r\n",
         "set a 0 0 x\r\n", "set a 0 0 5x\r\n", "set\r\n", "set a b c 12\r\nalice wonder\r\n",
         "get a\r\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_bad_token_format", "set a 0 0 5\r\nalice\r\n", "set a 0 0 6\r\nalice \r\n",
         "set a 0 0 0\r\n\r\n", "set a 0 0 1\r\n \r\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_bad_termination", "set a 0 0 3\r\nabcde\r\n", "set a 0 0 3\r\nabcde",
         "set a 0 0 3\r\nabc\n\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_wrong_then_right", "set a 0 0 11\r\nalice wrong\r\n", "get k\r\n",
         "set a 0 0 12\r\nALICE wonder\r\n", "set a 0 0 12\r\nalice wonder\r\n",
         "set k 0 0 1\r\nx\r\n", "get k\r\n", "stats\r\n",
         flags=Y, pause=AUTH_PAUSE, stats=["auth_cmds", "auth_errors"]),
    case("auth_login_noreply_and_pipelined",
         "get a\r\nset a 0 0 11 noreply\r\nbob builder\r\nset k2 0 0 1\r\ny\r\nget k2\r\n",
         "gets k2\r\n", flags=Y, pause=AUTH_PAUSE,
         masks=[(r"^VALUE k2 0 1 \d+", "VALUE k2 0 1 <cas>")]),
    case("auth_login_split_across_reads", "set a 0 0 1", "2\r\nali", "ce won", "der\r",
         "\nget x\r\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_extra_tokens_and_nul", "set a 0 0 19\r\nalice wonder extra1\r\n",
         "version\r\n", flags=Y, pause=AUTH_PAUSE),
    case("auth_nul_ends_the_password", "set a 0 0 14\r\nalice wonder\0z\r\n", "version\r\n",
         flags=Y, pause=AUTH_PAUSE),
    case("auth_long_line_closes", "x" * 3000, flags=Y, close=True),
    case("auth_stats_settings", "set a 0 0 12\r\nalice wonder\r\n", "stats settings\r\n",
         flags=Y, pause=AUTH_PAUSE,
         stats=["auth_enabled_ascii", "auth_enabled_sasl", "binding_protocol"]),
    case("auth_binary_protocol_forced_ascii", "set a 0 0 11\r\nbob builder\r\n",
         "stats settings\r\n", flags=Y + ["-B", "ascii"], pause=AUTH_PAUSE,
         stats=["binding_protocol"]),
    # -- refresh_certs in clear text, without -Z --
    case("tls_refresh_certs_not_enabled", "refresh_certs\r\n", "refresh_certs noreply\r\n",
         "refresh_certs a b c\r\n"),
    # -- TLS --
    case("tls_basic_commands", flags=Z, script=tls_session(
        [b"set tk 0 0 5\r\nhello\r\n", b"get tk\r\n", b"version\r\n", b"bogus\r\n",
         b"mn\r\n"])),
    case("tls_large_value", flags=Z, script=tls_session(
        [b"set big 0 0 200000\r\n" + b"v" * 200000 + b"\r\n", b"get big\r\n"])),
    case("tls_refresh_certs_good_and_bad", flags=["-Z", "-o", f"ssl_chain_cert={LIVE_CERT},"
                                                              f"ssl_key={LIVE_KEY}"],
         script=tls_session(REFRESH)),
    # memcached counts a handshake error only when its first SSL_accept, right after accept,
    # fails; the harness's start-up probe (connect, close) is counted by ours only
    case("tls_stats_lines", flags=Z, script=tls_session([b"stats\r\n"]),
         stats=["ssl_handshake_errors", "ssl_new_sessions"],
         masks=[(r"^STAT ssl_handshake_errors [01]\r\n", "STAT ssl_handshake_errors 0|1\r\n")]),
    case("tls_stats_session_cache", flags=["-Z", "-o", CERT_OPTS + ",ssl_session_cache"],
         script=tls_session([b"stats\r\n"]), stats=["ssl_new_sessions"]),
    case("tls_stats_settings", flags=[
        "-Z", "-o", CERT_OPTS + f",ssl_verify_mode=2,ssl_ca_cert={PKI.ca},"
                                "ssl_ciphers=ECDHE+AESGCM,ssl_wbuf_size=32,ssl_min_version=3,"
                                "ssl_session_cache"],
         script=tls_session([b"stats settings\r\n"], lambda: PKI.client_context(
             cert=PKI.client_cert, key=PKI.client_key)), stats=["ssl_*"]),
    case("tls_stats_settings_defaults", flags=Z, script=tls_session([b"stats settings\r\n"]),
         stats=["ssl_*"]),
    case("tls_clear_text_client", "version\r\n", flags=Z, close=True),
    case("tls_clear_text_then_more", "get a\r\n", "set a 0 0 1\r\nx\r\n", flags=Z, close=True),
    case("tls_verify_required_without_cert", flags=VERIFY(2), script=tls_session(
        [b"version\r\n"]), close=True),
    case("tls_verify_required_wrong_ca", flags=VERIFY(2), script=tls_session(
        [b"version\r\n"], lambda: PKI.client_context(cert=PKI.stranger_cert,
                                                       key=PKI.stranger_key)), close=True),
    case("tls_verify_required_with_cert", flags=VERIFY(2), script=tls_session(
        [b"version\r\n"], lambda: PKI.client_context(cert=PKI.client_cert, key=PKI.client_key))),
    case("tls_verify_request_without_cert", flags=VERIFY(1), script=tls_session(
        [b"version\r\n"])),
    case("tls_verify_request_wrong_ca", flags=VERIFY(1), script=tls_session(
        [b"version\r\n"], lambda: PKI.client_context(cert=PKI.stranger_cert,
                                                       key=PKI.stranger_key)), close=True),
    case("tls_verify_once_without_cert", flags=VERIFY(3), script=tls_session(
        [b"version\r\n"]), close=True),
    case("tls_client_trusts_another_ca", flags=Z, script=tls_session(
        [b"version\r\n"], lambda: PKI.client_context(ca=PKI.other_ca)), close=True),
    case("tls_expired_server_certificate", flags=[
        "-Z", "-o", f"ssl_chain_cert={PKI.expired_cert},ssl_key={PKI.expired_key}"],
         script=tls_session([b"version\r\n"]), close=True),
    case("tls_min_version_13_refuses_a_12_client",
         flags=["-Z", "-o", CERT_OPTS + ",ssl_min_version=3"],
         script=tls_session([b"version\r\n"], lambda: _max_version(ssl.TLSVersion.TLSv1_2)),
         close=True),
    case("tls_12_client_default_min_version", flags=Z, script=tls_session(
        [b"version\r\n"], lambda: _max_version(ssl.TLSVersion.TLSv1_2))),
    case("tls_with_auth", flags=Z + Y, script=tls_session(
        [b"get a\r\n", b"set a 0 0 12\r\nalice wonder\r\n", b"set k 0 0 1\r\nz\r\n",
         b"get k\r\n"])),
]


@pytest.mark.parametrize("mode, name", list(case_params(CORPUS)))
def test_security(mode, name, diff_results):
    check_outcome(diff_results[mode][name])


def test_corpus_is_consistent():
    harness.check_corpus(CORPUS)


def test_tls_stats_sit_where_memcached_puts_them():
    """The names around ssl_handshake_errors in `stats`, on both servers."""
    ref, ours = harness.start_pair(Z, mode="default")
    try:
        names = []
        for ep in (ref, ours):
            reply = tls_session([b"stats\r\n"])(ep, None).data.decode()
            keys = [line.split(" ")[1] for line in reply.splitlines() if line.startswith("STAT")]
            i = keys.index("ssl_handshake_errors")
            names.append(keys[i - 1:i + 3])
        assert names[0] == names[1]
        assert int(reply.split("time_since_server_cert_refresh ")[1].split()[0]) >= 0
    finally:
        ref.stop()
        ours.stop()


# ---- start-up refusals --------------------------------------------------------------------------

def _garbage() -> str:
    path = _DIR / "garbage.pem"
    path.write_text("garbage\n")
    return str(path)


def _bad_auth(content: str) -> str:
    path = _DIR / f"auth-{abs(hash(content))}"
    path.write_text(content)
    return str(path)


REFUSED = {
    "cert_garbage": ["-Z", "-o", f"ssl_chain_cert={_garbage()},ssl_key={PKI.server_key}"],
    "cert_missing": ["-Z", "-o", f"ssl_chain_cert={_DIR}/nope.pem,ssl_key={PKI.server_key}"],
    "cert_not_given": ["-Z"],
    "key_not_given": ["-Z", "-o", f"ssl_chain_cert={PKI.combined}"],
    "key_garbage": ["-Z", "-o", f"ssl_chain_cert={PKI.server_cert},ssl_key={_garbage()}"],
    "key_mismatch": ["-Z", "-o", f"ssl_chain_cert={PKI.server2_cert},ssl_key={PKI.server_key}"],
    "keyformat_7": ["-Z", "-o", CERT_OPTS + ",ssl_keyformat=7"],
    "ca_garbage": ["-Z", "-o", CERT_OPTS + f",ssl_ca_cert={_garbage()}"],
    "ciphers": ["-Z", "-o", CERT_OPTS + ",ssl_ciphers=NOSUCHCIPHER"],
    "no_tcp_port": ["-Z", "-p", "0", "-o", CERT_OPTS],
    "verify_mode_4": ["-Z", "-o", CERT_OPTS + ",ssl_verify_mode=4"],
    "min_version_x": ["-Z", "-o", CERT_OPTS + ",ssl_min_version=x"],
    "wbuf_missing": ["-Z", "-o", CERT_OPTS + ",ssl_wbuf_size"],
    "notls_without_Z": ["-l", "notls:127.0.0.1:0"],
    "auth_missing": ["-Y", f"{_DIR}/no-such-auth"],
    "auth_blank_line": ["-Y", _bad_auth("alice:wonder\n\n")],
    "auth_no_colon": ["-Y", _bad_auth("alice\n")],
    "auth_binary": ["-Y", AUTHFILE, "-B", "binary"],
    "auth_auto": ["-Y", AUTHFILE, "-B", "auto"],
    "auth_udp": ["-Y", AUTHFILE, "-U", "11311"],
    "auth_and_bad_cert": ["-Y", _bad_auth("x\n"), "-Z", "-o", f"ssl_chain_cert={_garbage()}"],
}


def _last_line(stderr: str) -> str:
    lines = [line.rstrip("\r") for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("argv", list(REFUSED.values()), ids=list(REFUSED))
def test_refused_at_start(argv):
    why = harness.memcached_available()
    if why:
        pytest.skip(why)
    port = str(harness.free_port())
    common = ["-l", "127.0.0.1", "-p", port] if "-l" not in argv else ["-p", port]
    if "-U" not in argv:
        common += ["-U", "0"]
    root = ["-u", "root"] if os.geteuid() == 0 else []
    ref = subprocess.run([harness.MEMCACHED_BIN, *root, *common, *argv], capture_output=True,
                         text=True, timeout=20)
    ours = subprocess.run([sys.executable, "-m", "memcache_py", *common, *argv],
                          capture_output=True, text=True, timeout=30, cwd=harness.REPO_ROOT)
    assert ref.returncode != 0, ref.stderr
    assert (ours.returncode, _last_line(ours.stderr)) == (ref.returncode, _last_line(ref.stderr))
