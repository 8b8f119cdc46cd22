"""tls.py without sockets: the context memcached's ssl_* settings give, and its messages."""

from __future__ import annotations

import dataclasses
import ssl

import pytest
from cryptography.hazmat.primitives import serialization

from memcache_py.settings import Settings
from memcache_py.tls import TlsError, build_context, strip_notls
from tests.certs import make_pki

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def settings(pki, **kw) -> Settings:
    kw.setdefault("ssl_chain_cert", str(pki.server_cert))
    kw.setdefault("ssl_key", str(pki.server_key))
    return dataclasses.replace(Settings(), ssl_enabled=True, **kw)


@pytest.mark.parametrize("mode, verify", [(0, ssl.CERT_NONE), (1, ssl.CERT_OPTIONAL),
                                          (2, ssl.CERT_REQUIRED), (3, ssl.CERT_REQUIRED)])
def test_verify_modes(pki, mode, verify):
    ctx = build_context(settings(pki, ssl_verify_mode=mode, ssl_ca_cert=str(pki.ca)))
    assert ctx.verify_mode == verify


@pytest.mark.parametrize("code, version", [(0, ssl.TLSVersion.TLSv1), (2, ssl.TLSVersion.TLSv1_2),
                                           (3, ssl.TLSVersion.TLSv1_3)])
def test_min_version(pki, code, version):
    assert build_context(settings(pki, ssl_min_version=code)).minimum_version == version


def test_session_cache_off_means_no_tickets(pki):
    assert build_context(settings(pki)).options & ssl.OP_NO_TICKET
    assert not build_context(settings(pki, ssl_session_cache=True)).options & ssl.OP_NO_TICKET


def test_kernel_tls_refused(pki):
    with pytest.raises(TlsError, match="^Kernel TLS offload is not available$") as err:
        build_context(settings(pki, ssl_kernel_tls=True))
    assert err.value.status == 64


def test_der_key_is_read_by_openssl_but_refused_here(pki, tmp_path):
    key = serialization.load_pem_private_key(pki.server_key.read_bytes(), None)
    der = tmp_path / "key.der"
    der.write_bytes(key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    with pytest.raises(TlsError, match=r"ssl_keyformat=2 is not supported here, only 1 \(PEM\)"):
        build_context(settings(pki, ssl_key=str(der), ssl_keyformat=2))


def test_ciphers(pki):
    build_context(settings(pki, ssl_ciphers="ECDHE+AESGCM"))
    with pytest.raises(TlsError, match=r"^Error setting the provided cipher\(s\): NOPE$"):
        build_context(settings(pki, ssl_ciphers="NOPE"))


@pytest.mark.parametrize("item, out", [("notls:127.0.0.1:5", (True, "127.0.0.1:5")),
                                       ("127.0.0.1", (False, "127.0.0.1")),
                                       ("notls:[::1]:5", (True, "[::1]:5"))])
def test_strip_notls(item, out):
    assert strip_notls(item) == out
