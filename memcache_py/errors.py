"""Protocol errors that carry their own wire reply (sans-IO).

The connection catches `ProtocolError`, writes `exc.reply` unless the command said `noreply`,
and closes only when `close_after` says so. Any other exception is a bug: it is logged and
answered with `SERVER_ERROR`, and the daemon serves on.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base: an input that gets one of memcached's error lines."""

    close_after = False

    def __init__(self, message: str = "", noreply: bool = False):
        super().__init__(message)
        self.message = message
        self.noreply = noreply      # memcached suppresses even error lines after `noreply`

    @property
    def reply(self) -> bytes:
        raise NotImplementedError


class UnknownCommand(ProtocolError):
    """Unknown verb or wrong token count: `ERROR`."""

    @property
    def reply(self) -> bytes:
        return b"ERROR\r\n"


class ClientError(ProtocolError):
    """`CLIENT_ERROR <message>`."""

    @property
    def reply(self) -> bytes:
        return b"CLIENT_ERROR " + self.message.encode() + b"\r\n"


class ServerError(ProtocolError):
    """`SERVER_ERROR <message>`."""

    @property
    def reply(self) -> bytes:
        return b"SERVER_ERROR " + self.message.encode() + b"\r\n"


class RawError(ProtocolError):
    """A reply line memcached sends verbatim (`ERROR: shutdown not enabled`, `MEMLIMIT_...`)."""

    @property
    def reply(self) -> bytes:
        return self.message.encode() + b"\r\n"


class CloseConnection(ProtocolError):
    """memcached closes without a word: over-long line, `HTTP/` probe, binary protocol."""

    close_after = True

    @property
    def reply(self) -> bytes:
        return b""


BAD_FORMAT = "bad command line format"
