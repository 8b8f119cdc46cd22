"""Throwaway TLS material for the tests: a CA, server and client certificates, an expired one.

Made with the `cryptography` package (the test extra) into a temporary directory, once per
test session; nothing here is fit for anything but a test on loopback.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    """Paths of PEM files: two CAs, server, client and expired certificates with their keys."""

    dir: Path
    ca: Path                 # the CA that signed server.pem and client.pem
    other_ca: Path           # an unrelated CA (a "wrong CA" for either side)
    server_cert: Path
    server_key: Path
    server2_cert: Path       # a second server pair from the same CA (refresh_certs)
    server2_key: Path
    expired_cert: Path       # server certificate that expired yesterday
    expired_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path      # client certificate signed by other_ca
    stranger_key: Path
    combined: Path           # server certificate and key in one file (ssl_key omitted)

    def client_context(self, *, ca: Path | None = None, cert: Path | None = None,
                       key: Path | None = None) -> ssl.SSLContext:
        """A client context trusting `ca` (default: our CA), optionally with a certificate."""
        ctx = ssl.create_default_context(cafile=str(ca or self.ca))
        ctx.check_hostname = False      # certificates name 127.0.0.1, clients dial by address
        if cert is not None:
            ctx.load_cert_chain(str(cert), str(key))
        return ctx


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str, now: datetime.datetime):
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(cn: str, ca, *, server: bool, not_before, not_after):
    ca_cert, ca_key = ca
    key = _key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(path: Path, *objs) -> Path:
    out = b""
    for obj in objs:
        if isinstance(obj, x509.Certificate):
            out += obj.public_bytes(serialization.Encoding.PEM)
        else:
            out += obj.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    path.write_bytes(out)
    return path


def make_pki(directory: Path) -> Pki:
    """Write a fresh set of certificates and keys into `directory`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca, other = _ca("memcache_py test CA", now), _ca("some other CA", now)
    valid = dict(not_before=now - DAY, not_after=now + 30 * DAY)
    server = _leaf("127.0.0.1", ca, server=True, **valid)
    server2 = _leaf("127.0.0.1", ca, server=True, **valid)
    expired = _leaf("127.0.0.1", ca, server=True, not_before=now - 10 * DAY,
                    not_after=now - DAY)
    client = _leaf("test client", ca, server=False, **valid)
    stranger = _leaf("stranger", other, server=False, **valid)
    d = Path(directory)
    return Pki(
        dir=d, ca=_write(d / "ca.pem", ca[0]), other_ca=_write(d / "other-ca.pem", other[0]),
        server_cert=_write(d / "server.pem", server[0]),
        server_key=_write(d / "server.key", server[1]),
        server2_cert=_write(d / "server2.pem", server2[0]),
        server2_key=_write(d / "server2.key", server2[1]),
        expired_cert=_write(d / "expired.pem", expired[0]),
        expired_key=_write(d / "expired.key", expired[1]),
        client_cert=_write(d / "client.pem", client[0]),
        client_key=_write(d / "client.key", client[1]),
        stranger_cert=_write(d / "stranger.pem", stranger[0]),
        stranger_key=_write(d / "stranger.key", stranger[1]),
        combined=_write(d / "combined.pem", server[0], server[1]))
