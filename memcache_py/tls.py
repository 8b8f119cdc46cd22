"""TLS on the listeners: memcached's -Z, its ssl_* options, `refresh_certs` and the handshake.

Theory of operation. Every TLS connection is accepted in clear text by a `TlsAcceptor`, which
checks the connection limit (as memcached does, before any handshake), then awaits
`loop.start_tls()` with the context current at that moment; once the handshake is done the
daemon's own protocol gets the TLS transport and sees nothing different from a clear-text
connection. A handshake that fails, stalls past the handshake timeout (`-o idle_timeout`, or
60 s) or meets a clear-text client costs that one connection: it is counted in
`ssl_handshake_errors`, logged with -v only, and closed. `refresh_certs` builds a whole new
context from the same files and swaps it in only when every file loads, so a bad pair never
leaves the server half-updated (memcached loads into its live context).

Messages about bad files are memcached's: `load_server_certificates` in memcached's tls.c
runs the same OpenSSL calls in the same order, so `_openssl_diagnosis` repeats them through
ctypes on a scratch context, in the very OpenSSL the `ssl` module uses, to report the same
first error. Where that library cannot be reached, the `ssl` module's own text is used.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import ssl
import warnings
from typing import Any, Callable

from .settings import EX_USAGE, SettingsError

log = logging.getLogger("memcache_py")

TOO_MANY_CONNECTIONS = b"ERROR Too many open connections\r\n"   # connection.py's, in clear
HANDSHAKE_TIMEOUT = 60.0        # seconds, asyncio's default; -o idle_timeout replaces it
NOTLS = "notls"                 # `-l notls:<addr>:<port>`: a clear-text listener beside TLS
SSL_FILETYPE_PEM = 1            # ssl_keyformat values: PEM is the only one `ssl` can load
SSL_FILETYPE_ASN1 = 2

# ssl_verify_mode 0..3 (None, Request, Require, Once) -> what the ssl module can express.
# "Once" differs from "Require" only on renegotiation, which memcached (and we) refuse.
VERIFY_MODES = {0: ssl.CERT_NONE, 1: ssl.CERT_OPTIONAL, 2: ssl.CERT_REQUIRED,
                3: ssl.CERT_REQUIRED}
MIN_VERSIONS = {0: ssl.TLSVersion.TLSv1, 1: ssl.TLSVersion.TLSv1_1,
                2: ssl.TLSVersion.TLSv1_2, 3: ssl.TLSVersion.TLSv1_3}


class TlsError(SettingsError):
    """A TLS file or option memcached would refuse: the message, exit status 64 at start."""

    def __init__(self, message: str):
        super().__init__(message, EX_USAGE)


def strip_notls(item: str) -> tuple[bool, str]:
    """`notls:<rest>` -> (True, rest); anything else -> (False, item), as memcached parses -l."""
    if item.startswith(NOTLS):
        return True, item[len(NOTLS) + 1:]
    return False, item


# ---- the context --------------------------------------------------------------------------------

def build_context(settings) -> ssl.SSLContext:
    """A server context from memcached's ssl_* settings, or TlsError with memcached's message."""
    problem = check_certificates(settings)
    if problem:
        raise TlsError(problem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():     # TLS 1.0/1.1 are deprecated, and asked for
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = MIN_VERSIONS[settings.ssl_min_version]
    try:
        ctx.load_cert_chain(settings.ssl_chain_cert, settings.ssl_key)
        if settings.ssl_ca_cert:
            ctx.load_verify_locations(cafile=settings.ssl_ca_cert)
    except (OSError, ValueError) as exc:        # the diagnosis found nothing, ssl did
        raise TlsError(f"Error loading the certificates: {_ssl_text(exc)}") from None
    ctx.verify_mode = VERIFY_MODES[settings.ssl_verify_mode]
    if settings.ssl_ciphers:
        try:
            ctx.set_ciphers(settings.ssl_ciphers)
        except ssl.SSLError:
            raise TlsError(f"Error setting the provided cipher(s): {settings.ssl_ciphers}")
    if not settings.ssl_session_cache:
        # memcached turns the session cache off; the ssl module reaches tickets, not the
        # TLS 1.2 session-ID cache (see docs/security.md)
        ctx.options |= ssl.OP_NO_TICKET
        ctx.num_tickets = 0
    if settings.ssl_kernel_tls:
        # start_tls runs TLS through memory BIOs: the kernel cannot take the socket over
        raise TlsError("Kernel TLS offload is not available")
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return ctx


def check_certificates(settings) -> str | None:
    """memcached's load_server_certificates checks: None when the files are good, else its
    one-line message (without the CRLF it adds for `refresh_certs`)."""
    if settings.ssl_keyformat != SSL_FILETYPE_PEM and _OPENSSL is None:
        return f"Error loading the key: {settings.ssl_key} : only PEM keys can be loaded"
    if _OPENSSL is not None:
        return _openssl_diagnosis(settings)
    try:                                        # no libssl handle: the ssl module's words
        scratch = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        scratch.load_cert_chain(settings.ssl_chain_cert, settings.ssl_key)
        if settings.ssl_ca_cert:
            scratch.load_verify_locations(cafile=settings.ssl_ca_cert)
    except (OSError, ValueError, TypeError) as exc:
        return f"Error loading the certificates: {_ssl_text(exc)}"
    return None


def _ssl_text(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _load_openssl() -> Any:
    """The OpenSSL the ssl module is linked with, through ctypes; None if not reachable."""
    try:
        import _ssl
        lib = ctypes.CDLL(_ssl.__file__)
        for name, res, args in (
                ("TLS_server_method", ctypes.c_void_p, []),
                ("SSL_CTX_new", ctypes.c_void_p, [ctypes.c_void_p]),
                ("SSL_CTX_free", None, [ctypes.c_void_p]),
                ("SSL_CTX_use_certificate_chain_file", ctypes.c_int,
                 [ctypes.c_void_p, ctypes.c_char_p]),
                ("SSL_CTX_use_PrivateKey_file", ctypes.c_int,
                 [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]),
                ("SSL_CTX_check_private_key", ctypes.c_int, [ctypes.c_void_p]),
                ("SSL_CTX_load_verify_locations", ctypes.c_int,
                 [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
                ("ERR_get_error", ctypes.c_ulong, []),
                ("ERR_clear_error", None, []),
                ("ERR_error_string_n", None,
                 [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t])):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        return lib
    except (ImportError, OSError, AttributeError):
        return None


_OPENSSL = _load_openssl()


def _openssl_diagnosis(settings) -> str | None:
    lib = _OPENSSL
    ctx = lib.SSL_CTX_new(lib.TLS_server_method())
    if not ctx:
        return "Error TLS not enabled"
    lib.ERR_clear_error()
    chain, key, ca = (_c_path(settings.ssl_chain_cert), _c_path(settings.ssl_key),
                      _c_path(settings.ssl_ca_cert))
    try:
        if not lib.SSL_CTX_use_certificate_chain_file(ctx, chain):
            return (f"Error loading the certificate chain: {_cstr(settings.ssl_chain_cert)}"
                    f" : {_first_error(lib)}")
        if not lib.SSL_CTX_use_PrivateKey_file(ctx, key, settings.ssl_keyformat):
            return f"Error loading the key: {_cstr(settings.ssl_key)} : {_first_error(lib)}"
        if not lib.SSL_CTX_check_private_key(ctx):
            return f"Error validating the certificate: {_first_error(lib)}"
        if ca is not None and not lib.SSL_CTX_load_verify_locations(ctx, ca, None):
            return (f"Error loading the CA certificate: {settings.ssl_ca_cert}"
                    f" : {_first_error(lib)}")
        if settings.ssl_keyformat != SSL_FILETYPE_PEM:
            # OpenSSL read it; the ssl module only reads PEM (docs/security.md)
            return (f"Error loading the key: {settings.ssl_key} : ssl_keyformat="
                    f"{settings.ssl_keyformat} is not supported here, only 1 (PEM)")
        return None
    finally:
        lib.ERR_clear_error()
        lib.SSL_CTX_free(ctx)


def _c_path(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def _cstr(value: str | None) -> str:
    return "(null)" if value is None else value


def _first_error(lib) -> str:
    """ERR_get_error + ERR_error_string_n: the oldest error, as memcached prints it."""
    code = lib.ERR_get_error()
    if not code:
        return ""
    buf = ctypes.create_string_buffer(256)
    lib.ERR_error_string_n(code, buf, 256)
    return buf.value.decode("utf-8", "replace")


# ---- the daemon's TLS state ---------------------------------------------------------------------

class TlsState:
    """The current context, its counters, and the connections still in their handshake."""

    def __init__(self, settings, clock):
        self.settings = settings
        self.clock = clock
        self.context = build_context(settings)
        # memcached stamps its first load before its clock starts, so it reports the time
        # since the clock's origin until the first refresh_certs
        self.last_refresh = 0
        self.handshake_errors = 0       # ssl_handshake_errors
        self.new_sessions = 0           # ssl_new_sessions (with ssl_session_cache)
        self.handshaking: set[TlsAcceptor] = set()
        idle = settings.idle_timeout
        self.handshake_timeout = float(idle) if idle > 0 else HANDSHAKE_TIMEOUT

    def refresh(self) -> str | None:
        """refresh_certs: None when swapped in, else memcached's error line (no CRLF)."""
        try:
            context = build_context(self.settings)
        except TlsError as exc:
            log.warning("refresh_certs: %s", exc.message)
            return exc.message
        self.context = context
        self.last_refresh = self.clock.current
        return None

    def handshake_done(self, transport: asyncio.BaseTransport) -> None:
        """Count the sessions OpenSSL's new-session callback would have seen in memcached:
        TLS 1.3 issues two tickets after a full handshake and one after a resumption, TLS
        1.2 one new session per full handshake."""
        if not self.settings.ssl_session_cache:
            return
        obj = transport.get_extra_info("ssl_object")
        if obj is None:
            return
        reused = obj.session_reused
        if obj.version() == "TLSv1.3":
            self.new_sessions += 1 if reused else self.context.num_tickets
        elif not reused:
            self.new_sessions += 1

    def stats(self) -> list[tuple[str, object]]:
        """memcached's `stats` lines for TLS, placed before unexpected_napi_ids."""
        lines: list[tuple[str, object]] = []
        if self.settings.ssl_session_cache:
            lines.append(("ssl_new_sessions", self.new_sessions))
        lines.append(("ssl_handshake_errors", self.handshake_errors))
        lines.append(("time_since_server_cert_refresh",
                      self.clock.current - self.last_refresh))
        return lines

    def acceptor_factory(self, daemon, make_protocol: Callable[[], asyncio.Protocol]):
        """The protocol factory of a TLS listener (`make_protocol` builds the daemon's own)."""
        return lambda: TlsAcceptor(self, daemon, make_protocol)

    def abort_handshakes(self) -> None:
        """Shutdown: connections still in their handshake are cut off."""
        for acceptor in list(self.handshaking):
            acceptor.abort()

    def handshake_failed(self, peer: object, exc: BaseException) -> None:
        self.handshake_errors += 1
        log.info("SSL connection failed from %s: %s", peer, _ssl_text(exc) or type(exc).__name__)


class TlsAcceptor(asyncio.Protocol):
    """A TLS connection until its handshake is done: then the daemon's protocol takes over.

    `start_tls` is started at once, inside connection_made (`_started_now`): uvloop starts
    reading right after connection_made returns, so a ClientHello already in the socket would
    otherwise reach this protocol, not the TLS one, before a task got to call start_tls.
    """

    def __init__(self, tls: TlsState, daemon, make_protocol: Callable[[], asyncio.Protocol]):
        self.tls = tls
        self.daemon = daemon
        self.make_protocol = make_protocol
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        d, tls = self.daemon, self.tls
        if len(d.connections) + len(tls.handshaking) >= d.settings.max_connections:
            d.stats.total_connections += 1
            d.stats.rejected_connections += 1
            transport.write(TOO_MANY_CONNECTIONS)      # memcached answers before TLS, too
            transport.close()
            return
        loop = asyncio.get_running_loop()
        protocol = self.make_protocol()
        handshake = loop.start_tls(transport, protocol, tls.context, server_side=True,
                                   ssl_handshake_timeout=tls.handshake_timeout)
        tls.handshaking.add(self)
        self.task = loop.create_task(self._handshake(_started_now(handshake), protocol))

    async def _handshake(self, handshake, protocol: asyncio.Protocol) -> None:
        transport, tls = self.transport, self.tls
        try:
            secure = await handshake
        except asyncio.CancelledError:
            transport.abort()                                          # type: ignore[union-attr]
            raise
        except Exception as exc:    # ssl.SSLError, ConnectionResetError, TimeoutError...
            tls.handshaking.discard(self)
            tls.handshake_failed(transport.get_extra_info("peername"), exc)  # type: ignore
            transport.abort()                                          # type: ignore[union-attr]
            return
        tls.handshaking.discard(self)
        if secure is None or secure.is_closing():
            # uvloop returns a closed transport when the peer left mid-handshake
            tls.handshake_failed(transport.get_extra_info("peername"),   # type: ignore
                                 ConnectionResetError("closed during the handshake"))
            transport.abort()                                          # type: ignore[union-attr]
            return
        tls.handshake_done(secure)
        protocol.connection_made(secure)

    def abort(self) -> None:
        self.tls.handshaking.discard(self)
        if self.task is not None:
            self.task.cancel()
        if self.transport is not None:
            self.transport.abort()


class _started_now:
    """Run a coroutine up to its first suspension now; awaiting this object finishes it.

    For start_tls that first part is synchronous: it pauses the transport and hands it to
    the TLS protocol. The future it then waits on is passed to the awaiting task unchanged.
    """

    __slots__ = ("coro", "first", "done", "result", "error")

    def __init__(self, coro):
        self.coro = coro
        self.done, self.result, self.error = False, None, None
        try:
            self.first = coro.send(None)
        except StopIteration as stop:
            self.done, self.result = True, stop.value
        except Exception as exc:
            self.done, self.error = True, exc

    def __await__(self):
        if self.done:
            if self.error is not None:
                raise self.error
            return self.result
        pending = self.first
        while True:
            try:
                yield pending
            except BaseException as exc:        # cancellation: into the coroutine
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    pending = self.coro.send(None)
                except StopIteration as stop:
                    return stop.value
