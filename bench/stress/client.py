"""A minimal pipelined memcached text-protocol connection on asyncio streams.

The caller writes a batch of requests with one `send`, then reads the replies in order. Only
what the stress load needs: `get` (one or many keys), `set`, `delete`. Anything the server
answers that does not fit the request raises `ProtocolMismatch`: the stream may be out of sync,
so the connection is dropped and counted, never guessed at.

    get <key>*\r\n        -> (VALUE <key> <flags> <bytes>\r\n<data>\r\n)* END\r\n
    set <key> <flags> <exptime> <bytes>\r\n<data>\r\n
                          -> STORED | NOT_STORED | SERVER_ERROR <msg>
    delete <key>\r\n      -> DELETED | NOT_FOUND
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl

CRLF = b"\r\n"
END = b"END\r\n"
STREAM_LIMIT = 1 << 20          # longest reply line accepted (the default 64 KiB is plenty too)


class ProtocolMismatch(Exception):
    """The server's reply does not fit the request; the connection must be dropped."""


# what ends a connection: the server went away, sent garbage, or did not answer in time
CONNECTION_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError,
                     asyncio.LimitOverrunError, ProtocolMismatch, TimeoutError)


class ServerErrorReply(Exception):
    """A `SERVER_ERROR ...`, `CLIENT_ERROR ...` or `ERROR` line in place of a reply."""

    def __init__(self, line: bytes):
        super().__init__(line.decode("latin-1").strip())
        self.line = line

    @property
    def out_of_memory(self) -> bool:
        return b"out of memory" in self.line


def encode_get(keys: list[bytes]) -> bytes:
    return b"get " + b" ".join(keys) + CRLF


def encode_set(key: bytes, flags: int, exptime: int, value: bytes) -> bytes:
    return b"set %b %d %d %d\r\n%b\r\n" % (key, flags, exptime, len(value), value)


def encode_set_header(key: bytes, flags: int, exptime: int, length: int) -> bytes:
    return b"set %b %d %d %d\r\n" % (key, flags, exptime, length)


def encode_delete(key: bytes) -> bytes:
    return b"delete %b\r\n" % key


def _is_error(line: bytes) -> bool:
    return line.startswith((b"SERVER_ERROR", b"CLIENT_ERROR")) or line == b"ERROR\r\n"


@functools.lru_cache(maxsize=4)
def tls_context(ca: str) -> ssl.SSLContext:
    """A client context trusting `ca` (the stress tool talks to 127.0.0.1 by address)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    return ctx


class TextConnection:
    """One TCP connection to the server; replies are read in the order requests were sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int, timeout: float = 5.0,
                   rcvbuf: int | None = None, tls_ca: str | None = None) -> "TextConnection":
        """Connect; `rcvbuf` shrinks the kernel's receive buffer (set before connecting, so
        the TCP window stays small): a slow reader then backs up into the server at once.
        With `tls_ca`, over TLS."""
        tls = {"ssl": tls_context(tls_ca), "server_hostname": host} if tls_ca else {}
        if rcvbuf is None:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=STREAM_LIMIT, **tls), timeout)
            return cls(reader, writer)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(sock=sock, limit=STREAM_LIMIT, **tls), timeout)
        except BaseException:
            sock.close()
            raise
        return cls(reader, writer)

    def send(self, payload: bytes) -> None:
        self.writer.write(payload)

    def write_buffer_size(self) -> int:
        return self.writer.transport.get_write_buffer_size()

    async def drain(self) -> None:
        await self.writer.drain()

    async def read_line(self) -> bytes:
        return await self.reader.readuntil(CRLF)

    async def read_values(self) -> list[tuple[bytes, int, bytes]]:
        """The reply to one `get`: [(key, flags, data)], ServerErrorReply for an error line."""
        values = []
        while True:
            line = await self.reader.readuntil(CRLF)
            if line == END:
                return values
            if not line.startswith(b"VALUE "):
                if _is_error(line):
                    raise ServerErrorReply(line)
                raise ProtocolMismatch(f"unexpected line in a get reply: {line[:80]!r}")
            parts = line.split()
            if len(parts) < 4:
                raise ProtocolMismatch(f"bad VALUE line: {line[:80]!r}")
            try:
                flags, length = int(parts[2]), int(parts[3])
            except ValueError:
                raise ProtocolMismatch(f"bad VALUE line: {line[:80]!r}") from None
            block = await self.reader.readexactly(length + 2)
            if block[-2:] != CRLF:
                raise ProtocolMismatch(f"value of {parts[1][:60]!r} not followed by CRLF")
            values.append((parts[1], flags, block[:-2]))

    async def read_status(self, expected: tuple[bytes, ...]) -> bytes:
        """One status line, which must be one of `expected` (ServerErrorReply for errors)."""
        line = await self.reader.readuntil(CRLF)
        if line in expected:
            return line
        if _is_error(line):
            raise ServerErrorReply(line)
        raise ProtocolMismatch(f"unexpected reply {line[:80]!r}, wanted one of {expected}")

    def close(self) -> None:
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
