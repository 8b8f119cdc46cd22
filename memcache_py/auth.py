"""ASCII authentication (-Y): memcached's auth file and the gate in front of each connection.

memcached 1.6.18 (authfile.c, proto_text.c try_read_command_asciiauth): a connection is
unauthenticated until it sends a `set <any key> <any> <any> <bytes>` whose data block is
`<user> <password>` matching a `user:password` line of the file (answer `STORED`); until then
every line is answered `CLIENT_ERROR unauthenticated`. The file is read at start (a bad one
stops the daemon) and again on SIGHUP (a bad one keeps the old entries). Passwords are compared
in constant time and never logged.

Of the answers to one read, memcached sends only the last (they share one response object).
`AuthGate` is sans-IO: `receive(data)` -> (reply, rest, close). `rest` stays None while the
connection is unauthenticated; once it authenticates, `rest` is what followed the
credentials, for the ordinary request path. The connection asks the gate only while
`protocol.auth` is set.
"""

from __future__ import annotations

import hmac
import logging
import os

from .cnum import safe_strtoul
from .settings import EX_USAGE, SettingsError

log = logging.getLogger("memcache_py")

MAX_ENTRIES = 8             # authfile.c: "Not supposed to be a huge database!"; later lines ignored
MAX_ENTRY_LEN = 256         # authfile.c: fgets() reads at most 255 bytes of a line
LINE_MAX = 2048             # no newline in this many bytes: memcached closes the connection
READ_BUFFER_SIZE = 16384    # memcached's read buffer: a longer credentials block cannot fit
EXIT_FAILURE = 1

UNAUTHENTICATED = b"CLIENT_ERROR unauthenticated\r\n"
BAD_TERMINATION = b"CLIENT_ERROR bad command line termination\r\n"
BAD_TOKEN_FORMAT = b"CLIENT_ERROR bad authentication token format\r\n"
AUTH_FAILURE = b"CLIENT_ERROR authentication failure\r\n"
STORED = b"STORED\r\n"


class AuthFileError(SettingsError):
    """An auth file memcached refuses at start: its message, exit status 1."""

    def __init__(self, message: str, status: int = EXIT_FAILURE):
        super().__init__(message, status)


def parse_auth_file(data: bytes, path: str) -> list[tuple[bytes, bytes]]:
    """`user:password` lines (LF or CRLF) -> entries; AuthFileError if a line has no ':'.

    As authfile.c: the user ends at the first ':', the password at CR, LF or NUL; an empty
    line (a trailing blank line too) is malformed, and so is one of 255 bytes or more;
    lines past the 8th are ignored.
    """
    entries: list[tuple[bytes, bytes]] = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()                         # the newline that ends the last line
    for line in lines:
        user, colon, password = line.partition(b":")
        # fgets() there reads 255 bytes a time: a longer line is read in pieces and its
        # password left undefined, so refuse it here
        if not colon or b"\0" in user or len(line) >= MAX_ENTRY_LEN - 1:
            raise AuthFileError(f"Authfile [{path}] has a malformed entry. "
                                "Should be 'user:password'")
        for end in (b"\r", b"\0"):
            password = password.split(end, 1)[0]
        entries.append((user, password))
        if len(entries) == MAX_ENTRIES:
            if len(lines) > MAX_ENTRIES:
                log.warning("auth file %s: only the first %d entries are used, as memcached",
                            path, MAX_ENTRIES)
            break
    return entries


class AuthTable:
    """The entries of the -Y file, reloadable; `check` compares in constant time."""

    def __init__(self, path: str):
        self.path = path
        self.entries = self._read()

    def _read(self) -> list[tuple[bytes, bytes]]:
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            # memcached's vperror(): its text, then perror's ": <strerror>"
            raise AuthFileError(f"Could not open authfile [{self.path}] for reading, error "
                                f"{reason}: {reason}") from None
        return parse_auth_file(data, self.path)

    def reload(self) -> bool:
        """SIGHUP: read the file again; on error keep the entries we have (memcached)."""
        try:
            self.entries = self._read()
        except AuthFileError as exc:
            log.warning("SIGHUP: %s; keeping the previous entries", exc.message)
            return False
        log.info("SIGHUP: reloaded %s (%d entries)", self.path, len(self.entries))
        return True

    def check(self, user: bytes, password: bytes) -> bool:
        """Whether user/password match an entry. Every entry is compared, each with
        hmac.compare_digest (constant time for equal lengths; a length differs at once, as in
        memcached's safe_memcmp after its length test)."""
        ok = False
        for u, p in self.entries:
            ok |= hmac.compare_digest(user, u) & hmac.compare_digest(password, p)
        return ok


def load(settings) -> AuthTable | None:
    """The table for -Y, or None; AuthFileError with memcached's start-up messages."""
    if not settings.auth_file:
        return None
    if settings.udp_port:
        raise AuthFileError("Cannot use UDP with ascii authentication enabled (-U 0 to disable)",
                            EX_USAGE)
    return AuthTable(settings.auth_file)


def _tokens(text: bytes) -> list[bytes]:
    """memcached's tokenize_command: split on spaces, stop at a NUL."""
    if b"\0" in text:
        text = text[:text.index(b"\0")]
    return [t for t in text.split(b" ") if t]


class AuthGate:
    """One connection's authentication state machine (try_read_command_asciiauth)."""

    __slots__ = ("table", "stats", "buf", "need")

    def __init__(self, table: AuthTable, stats):
        self.table = table
        self.stats = stats                  # ServerStats: auth_cmds, auth_errors
        self.buf = b""
        self.need = -1                      # bytes of the credentials block, -1: a line next

    def receive(self, data: bytes) -> tuple[bytes, bytes | None, bool]:
        """Feed one read: (reply to send, bytes after a successful login or None, close).

        memcached answers each line of an unauthenticated connection into the same response
        object, so of one read only the last answer is sent: so here, too.
        """
        buf = self.buf + data if self.buf else data
        out = b""
        while True:
            if self.need < 0:
                if len(buf) < 2:
                    break
                end = buf.find(b"\n")
                if end < 0:
                    if len(buf) > LINE_MAX:
                        return b"", None, True      # closing: nothing more is sent
                    break
                line, buf = buf[:end], buf[end + 1:]
                tokens = _tokens(line)      # a trailing \r stays in the last token, as there
                size = safe_strtoul(tokens[4]) if len(tokens) >= 5 else None
                if len(tokens) < 5 or tokens[0] != b"set" or size is None:
                    out = UNAUTHENTICATED
                    continue
                self.need = size + 2
            if len(buf) < self.need:
                if len(buf) >= READ_BUFFER_SIZE:
                    return b"", None, True      # memcached's read buffer is full: it closes
                break
            block, buf, self.need = buf[:self.need], buf[self.need:], -1
            if block[-2:] != b"\r\n":
                out = BAD_TERMINATION
                continue
            creds = _tokens(block[:-2])
            if len(creds) < 2:
                out = BAD_TOKEN_FORMAT
                continue
            self.stats.auth_cmds += 1
            if self.table.check(creds[0], creds[1]):
                out = STORED
                self.buf = b""
                return out, buf, False
            self.stats.auth_errors += 1
            out = AUTH_FAILURE
        self.buf = buf
        return out, None, False

    def pass_through(self, protocol, data: bytes) -> bytes:
        """Run the gate for `protocol` (a MemcacheProtocol): write its replies, close if it
        must, and return the bytes for the request path (b"" while unauthenticated)."""
        reply, rest, close = self.receive(data)
        if reply:
            protocol.stats.bytes_written += len(reply)
            protocol.transport.write(reply)
        session = protocol.session
        if session is not None:
            session.last_cmd = protocol.clock.current
        if close:
            protocol.transport.close()
            return b""
        if rest is None:
            return b""
        protocol.auth = None                # authenticated: the gate is out of the path
        return rest
