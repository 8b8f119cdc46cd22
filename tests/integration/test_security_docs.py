"""docs/security.md and deploy/memcache-py-tls.conf do what they say.

The `openssl` recipe is run as written (in a temporary directory) and the daemon started with
the certificates it makes; the systemd drop-in's ExecStart is run with its credentials
directory (%d) pointing at test files, and must serve TLS, the notls listener and -Y.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymemcache.client.base import Client

from tests.certs import make_pki
from tests.conftest import free_port
from tests.integration.helpers import Conn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "security.md"
DROPIN = ROOT / "deploy" / "memcache-py-tls.conf"


def _commands_after(heading: str) -> list[str]:
    text = SECURITY.read_text().split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", text, re.DOTALL).group(1)
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def _start(argv: list[str], cwd: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError(proc.communicate()[1].decode())
            time.sleep(0.05)


def _as_python(argv: list[str]) -> list[str]:
    assert argv[0].endswith("memcache-py")
    return [sys.executable, "-m", "memcache_py", *argv[1:]]


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl command")
def test_openssl_recipe_serves_tls(tmp_path):
    *recipe, daemon = _commands_after("### A test certificate with `openssl`")
    for cmd in recipe:
        assert cmd.startswith("openssl ")
        subprocess.run(shlex.split(cmd), cwd=tmp_path, check=True, capture_output=True,
                       timeout=60)
    port = free_port()
    proc = _start(_as_python(shlex.split(daemon)) + ["-p", str(port), "-l", "127.0.0.1"],
                  tmp_path, port)
    try:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        ctx.load_cert_chain(str(tmp_path / "client.pem"), str(tmp_path / "client.key"))
        client = Client(("127.0.0.1", port), tls_context=ctx, timeout=5)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
        anonymous = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            c = Conn("127.0.0.1", port)
            c.sock = anonymous.wrap_socket(c.sock, server_hostname="127.0.0.1")
            c.cmd(b"version\r\n")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _dropin_execstart() -> list[str]:
    lines = [line for line in DROPIN.read_text().splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart="             # resets the unit's own command
    return shlex.split(lines[-1].removeprefix("ExecStart="))


def test_tls_dropin_serves(tmp_path):
    pki = make_pki(tmp_path)
    creds = tmp_path / "credentials"
    creds.mkdir()
    for line in DROPIN.read_text().splitlines():
        if line.startswith("LoadCredential="):
            name, source = line.removeprefix("LoadCredential=").split(":", 1)
            assert source.startswith("/etc/memcache-py/")
    shutil.copy(pki.server_cert, creds / "server.pem")
    shutil.copy(pki.server_key, creds / "server.key")
    shutil.copy(pki.ca, creds / "ca.pem")
    (creds / "auth").write_text("svc:pass\n")
    tls_port, plain_port = free_port(), free_port()
    argv = [a.replace("%d", str(creds)) for a in _dropin_execstart()]
    argv = [{"11211": str(tls_port), "0.0.0.0": "127.0.0.1",
             "notls:127.0.0.1:11212": f"notls:127.0.0.1:{plain_port}"}.get(a, a) for a in argv]
    proc = _start(_as_python(argv), ROOT, tls_port)
    try:
        ctx = pki.client_context(cert=pki.client_cert, key=pki.client_key)
        client = Client(("127.0.0.1", tls_port), tls_context=ctx, timeout=5,
                        default_noreply=False)
        assert client.set("login", "svc pass") is True
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
        plain = Conn("127.0.0.1", plain_port)          # clear text, but -Y still applies
        assert plain.cmd(b"get k\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert err == b""
