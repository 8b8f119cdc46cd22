"""RequestParser: memcached's text protocol, bytes in, request records out (sans-IO).

Theory of operation. The parser is in one of four states:
    LINE        reading a command line; `next_request()` returns a request, NEED_DATA, or
                raises a ProtocolError that carries memcached's reply.
    AWAIT_SINK  a storage header was returned; the caller must now say where the value goes:
                `receive_value_into(views)` (writable memoryviews of the reserved chunk) or
                `discard_value()` (memcached's conn_swallow, after a refused store).
    DATA        copying `<bytes>+2` bytes into the views, then `ValueReceived(valid)`.
    SWALLOW     dropping `<bytes>+2` bytes, then `ValueDiscarded()` and back to LINE (the
                refused store's error reply goes out then, as memcached's does).
Value bytes go from the receive buffer straight into the caller's views: no Python `bytes` of
the value is ever made. No asyncio, socket, numpy or allocator import here.
"""

from __future__ import annotations

from .cnum import safe_strtol, safe_strtoul, safe_strtoull
from .errors import BAD_FORMAT, ClientError, CloseConnection, ProtocolError, UnknownCommand
from .meta import META_DATA_HEADERS, META_PARSERS
from .watch_request import WATCH_PARSERS
from .requests import (Arith, CacheMemlimit, Delete, FlushAll, Get, Lru, LruCrawler, Quit,
                       Shutdown, Slabs, Stats, Store, Touch, ValueDiscarded, ValueReceived,
                       Verbosity, Version)
from .requests import RefreshCerts

KEY_MAX_LENGTH = 250        # memcached KEY_MAX_LENGTH
LINE_MAX_NO_NEWLINE = 2048  # memcached closes a non-get connection holding this much without \n
GET_LINE_MAX = 4 * 1024 * 1024  # our bound on one multi-get line (memcached grows its buffer)
READ_BUFFER_SIZE = 16384    # memcached reads 16 KB at a time: a longer non-get line never fits
GET_SLICE = 64              # a multi-get is served this many keys at a time, so flow control
                            # and pins apply between slices (the reply bytes are unchanged)
IT_REFCOUNT_LIMIT = 60000   # memcached's limited_get: an item holding more references is a
                            # miss; its link holds one, so a command needs this many keys to
                            # reach it
MAX_TOKENS = 24             # memcached's tokenizer: at most 23 tokens then the unsplit rest
INT32_MAX = 2**31 - 1
_new_tuple = tuple.__new__  # builds a NamedTuple request without its Python-level __new__


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()     # sentinel: feed more bytes (h11's NEED_DATA)

LINE, AWAIT_SINK, DATA, SWALLOW = range(4)


class RequestParser:
    """Incremental parser for one connection's byte stream."""

    def __init__(self):
        # next_request is re-bound to the current state's step whenever the state changes,
        # which saves a dispatch per request on the hot path (see the `state` setter).
        self._steps = {LINE: self._next_line, AWAIT_SINK: self._await_sink,
                       DATA: self._copy_value, SWALLOW: self._swallow}
        self._buf = b""             # unconsumed input
        self._parts: list[bytes] = []  # reads appended to an incomplete line, not yet joined
        self._more: Get | None = None  # a multi-get whose later slices are still to come
        self._more_at = 0
        self._parts_len = 0
        self._pos = 0               # read offset into _buf
        self._scan = 0              # where the search for "\n" resumes
        self.state = LINE
        self._views: list[memoryview] = []
        self._view_i = 0            # current view in DATA
        self._view_off = 0          # bytes already written into the current view
        self._left = 0              # bytes left to copy (DATA) or drop (SWALLOW)
        self._pending = 0           # <bytes>+2 of the header awaiting a sink
        self.lone_value: memoryview | None = None   # a lone set's data block (lone_request)
        self.unterminated = 0       # bytes held by a get line past LINE_MAX_NO_NEWLINE that
                                    # still waits for its newline (the caller budgets them)

    # ---- input ---------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._pos >= len(self._buf) and not self._parts:
            self._buf = bytes(data)
            self._scan = 0
        elif self._state == LINE and self._scan >= len(self._buf) and b"\n" not in data:
            # An incomplete line keeps growing (a big multi-get trickling in): keep the reads
            # and join once, when its newline arrives, so the cost stays linear.
            self._parts.append(data)
            self._parts_len += len(data)
            return
        else:
            self.unterminated = 0           # a long line ends here, or is measured again
            held = self._buf[self._pos:]
            if self._parts:
                held += b"".join(self._parts)
                self._parts, self._parts_len = [], 0
            self._buf = held + data
            self._scan = max(self._scan - self._pos, 0)
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf) - self._pos + self._parts_len

    # ---- the lone-request shortcut -------------------------------------------------------
    def lone_request(self, data: bytes) -> bytes | Get | Store | None:
        """`data` as one whole `get`/`gets` line or one whole `set` (header, value, CRLF).

        With one request in flight per connection (most clients) nearly every read is exactly
        one of these; serving it straight from the read skips buffering and the state machine.
        None means "not that simple" and the caller feeds `data` to `receive_data` instead:
        nothing is buffered then, so the read is the request. The checks and line parsers are
        the general path's; whatever they refuse goes the general way and gets the same reply.
        `get <key>` comes back as the key alone (bytes): building a Get for it costs 1.5k of
        the 32.6k instructions of a whole get (callgrind; tuple and list made and freed). A
        Store comes back only if its data block ends in CRLF; `lone_value` is then that
        block with its CRLF (a view of `data`), framed here like every other data block.

        Why a second reading at all: served with the connection's general loop, a lone
        `get <key>` costs 698 bytecodes (30 689 -> 52 480 instructions in callgrind, +71%)
        against 416 here, a set 1 765 against 1 373 (+39%); see docs/performance.md. The
        compiled core (issue #16) is to make the general path cheap enough to delete this.
        """
        if self._pos < len(self._buf) or self._state != LINE or self._parts \
                or self._more is not None:
            return None
        head = data[:4]
        if head == b"get ":
            key = data[4:-2]
            if data[-2:] == b"\r\n" and 0 < len(key) <= KEY_MAX_LENGTH and b" " not in key \
                    and b"\n" not in key and 0 not in key:
                return key
        elif head != b"set " and head != b"gets":
            return None
        end = data.find(b"\n")
        if end < 4 or end > LINE_MAX_NO_NEWLINE or data[end - 1] != 13:
            return None
        line = data[:end - 1]
        if 0 in line:
            return None
        tokens = line.split(b" ")
        if b"" in tokens:
            return None
        try:
            if head == b"set ":
                request = parse_storage(tokens)
            elif end != len(data) - 1 or len(tokens) > GET_SLICE + 1 \
                    or tokens[0] != b"get" and tokens[0] != b"gets":
                return None
            else:
                return parse_get(tokens)
        except ProtocolError:
            return None
        if end + request.nbytes + 3 != len(data) or data[-2:] != b"\r\n":
            return None
        self.lone_value = memoryview(data)[end + 1:]
        return request

    # ---- storage data phase --------------------------------------------------------------
    def receive_value_into(self, views: list[memoryview]) -> None:
        """Route the pending data block into `views` (their total length is <bytes>+2)."""
        assert self.state == AWAIT_SINK
        self.state, self._views, self._view_i, self._view_off = DATA, views, 0, 0
        self._left = self._pending

    def discard_value(self) -> None:
        """Drop the pending data block (memcached's swallow after a refused store)."""
        assert self.state == AWAIT_SINK
        self.state, self._left = SWALLOW, self._pending

    def abandon_value(self) -> None:
        """Forget a sink (the connection went away); the parser must not be used again."""
        self._views = []
        self.state = SWALLOW

    # ---- output --------------------------------------------------------------------------
    @property
    def state(self) -> int:
        return self._state

    @state.setter
    def state(self, value: int) -> None:
        self._state = value
        self.next_request = self._steps[value]

    def next_request(self):
        """The next complete request, NEED_DATA, or raise ProtocolError.

        (Replaced per instance by the current state's step; this is its documentation.)
        """
        return self._steps[self._state]()

    def _await_sink(self):
        raise RuntimeError("storage header not answered: call receive_value_into/discard_value")

    def _next_line(self):
        if self._more is not None:
            return self._next_get_slice()
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            return NEED_DATA
        if self._parts:                     # still no newline: only the length rule applies
            self._check_unterminated(buf, pos)
            return NEED_DATA
        scan = self._scan
        end = buf.find(b"\n", scan if scan > pos else pos)
        if end < 0:
            self._scan = len(buf)
            self._check_unterminated(buf, pos)
            return NEED_DATA
        if end - pos > READ_BUFFER_SIZE and not _is_get(buf, pos):
            raise CloseConnection("line too long")
        self._pos = self._scan = end + 1
        line = buf[pos:end - 1] if end > pos and buf[end - 1] == 13 else buf[pos:end]
        if 0 in line:                       # parsing stops at a NUL (memcached tokenizer)
            line = line[:line.index(0)]
        tokens = line.split(b" ")
        if b"" in tokens:
            tokens = [t for t in tokens if t]
            if not tokens:
                raise UnknownCommand()
        parse = PARSERS.get(tokens[0])
        if parse is None:
            if _is_http_probe(tokens):
                raise CloseConnection("HTTP request")
            raise UnknownCommand()
        request = parse(tokens)
        if type(request) in DATA_HEADERS:       # a data block of request.nbytes + 2 follows
            self.state = AWAIT_SINK
            self._pending = request.nbytes + 2
        elif type(request) is Get and len(request.keys) > GET_SLICE:
            if len(request.keys) >= IT_REFCOUNT_LIMIT:     # counted across all its slices
                request = request._replace(refs={})
            self._more, self._more_at = request, 0
            return self._next_get_slice()
        return request

    def _next_get_slice(self) -> Get:
        whole, start = self._more, self._more_at
        keys = whole.keys[start:start + GET_SLICE]          # type: ignore[union-attr]
        self._more_at = start + GET_SLICE
        end = self._more_at >= len(whole.keys)              # type: ignore[union-attr]
        if end:
            self._more = None
        return Get(keys, whole.with_cas, whole.touch, whole.exptime, end,  # type: ignore
                   whole.refs)                                      # type: ignore

    def _check_unterminated(self, buf: bytes, pos: int) -> None:
        # memcached: >2048 bytes and no newline closes the connection unless it is a get.
        held = len(buf) - pos + self._parts_len
        if held <= LINE_MAX_NO_NEWLINE:
            return
        if _is_get(buf, pos) and held <= GET_LINE_MAX:
            self.unterminated = held
            return
        raise CloseConnection("line too long")

    def _copy_value(self):
        buf, pos = self._buf, self._pos
        avail = len(buf) - pos
        if avail == 0:
            return NEED_DATA
        views = self._views
        if self._left == self._pending and len(views) == 1 and avail >= self._left:
            # the common case: the whole block is already here and goes into one view
            n = self._left
            view = views[0]
            view[:] = memoryview(buf)[pos:pos + n]
            self._pos = self._scan = pos + n
            self._left = 0
            self.state = LINE
            self._views = []
            return ValueReceived(view[n - 2:] == b"\r\n")
        src = memoryview(buf)
        while self._left and avail:
            view = views[self._view_i]
            room = len(view) - self._view_off
            n = min(room, avail)
            view[self._view_off:self._view_off + n] = src[pos:pos + n]
            pos += n
            avail -= n
            self._left -= n
            self._view_off += n
            if self._view_off == len(view) and self._view_i + 1 < len(views):
                self._view_i += 1
                self._view_off = 0
        self._pos = self._scan = pos
        if self._left:
            return NEED_DATA
        self.state = LINE
        self._views = []
        tail = bytes(views[-1][-2:])
        if len(tail) < 2:                   # the CRLF straddles the last two views
            tail = bytes(views[-2][-1:]) + tail
        return ValueReceived(tail == b"\r\n")

    def _swallow(self):
        n = min(self._left, len(self._buf) - self._pos)
        self._pos += n
        self._scan = self._pos
        self._left -= n
        if self._left:
            return NEED_DATA
        self.state = LINE
        return ValueDiscarded()


# First letters memcached dispatches on before its HTTP check: an unknown verb starting with
# one of these is answered ERROR (as are 1-byte verbs and 2-byte m* meta verbs).
_DISPATCHED_FIRST_LETTERS = frozenset(b"gsacidt")


def _is_http_probe(tokens: list[bytes]) -> bool:
    """memcached closes silently on an unknown command whose last token starts with HTTP/."""
    verb = tokens[0]
    if len(verb) == 1 or verb[0] in _DISPATCHED_FIRST_LETTERS or (
            verb[0] == 0x6D and len(verb) == 2):              # b"m?"
        return False
    # past MAX_TOKENS - 1 tokens memcached's last token is the unsplit rest of the line
    last = tokens[MAX_TOKENS - 1] if len(tokens) >= MAX_TOKENS else tokens[-1]
    return last.startswith(b"HTTP/")


def _is_get(buf: bytes, pos: int) -> bool:
    """memcached lets only get/gets lines (after <=100 spaces) grow past its limits."""
    return buf[pos:pos + 106].lstrip(b" ").startswith((b"get ", b"gets "))


# ---- command lines ------------------------------------------------------------------------
# Each parser takes the tokens of one line (command first) and returns a request or raises.
# Token counts below exclude memcached's terminal empty token.

def _noreply(tokens: list[bytes]) -> bool:
    return tokens[-1] == b"noreply"


def _key(tok: bytes, noreply: bool = False) -> bytes:
    if len(tok) > KEY_MAX_LENGTH:
        raise ClientError(BAD_FORMAT, noreply)
    return tok


def parse_storage(tokens: list[bytes]) -> Store:
    """set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]
    cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]"""
    n = len(tokens)
    is_cas = tokens[0] == b"cas"
    if is_cas:
        if n != 6 and n != 7:
            raise UnknownCommand()
    elif n != 5 and n != 6:
        raise UnknownCommand()
    noreply = tokens[-1] == b"noreply"
    key, f, e, b = tokens[1], tokens[2], tokens[3], tokens[4]
    if len(key) > KEY_MAX_LENGTH:
        raise ClientError(BAD_FORMAT, noreply)
    if (f + e + b).isdigit() and len(f) < 10 and len(e) < 10 and len(b) < 10:
        flags, exptime, nbytes = int(f), int(e), int(b)   # the common case: small plain digits
    else:
        flags, exptime, nbytes = safe_strtoul(f), safe_strtol(e), safe_strtol(b)
        if flags is None or exptime is None or nbytes is None:
            raise ClientError(BAD_FORMAT, noreply)
        if nbytes < 0 or nbytes > INT32_MAX - 2:
            raise ClientError(BAD_FORMAT, noreply)
    cas_unique = 0
    if is_cas:
        cas_unique = safe_strtoull(tokens[5])
        if cas_unique is None:
            raise ClientError(BAD_FORMAT, noreply)
    return _new_tuple(Store, (tokens[0], key, flags, exptime, nbytes, cas_unique, noreply))


def parse_get(tokens: list[bytes]) -> Get:
    """get|gets|bget <key>*"""
    if len(tokens) < 2:
        raise UnknownCommand()
    keys = tokens[1:]
    if max(map(len, keys)) > KEY_MAX_LENGTH:
        raise ClientError(BAD_FORMAT)
    return _new_tuple(Get, (keys, tokens[0] == b"gets", False, 0, True, None))


def parse_gat(tokens: list[bytes]) -> Get:
    """gat|gats <exptime> <key>*"""
    if len(tokens) < 2:
        raise UnknownCommand()
    exptime = safe_strtol(tokens[1])
    if exptime is None:
        raise ClientError("invalid exptime argument")
    keys = tokens[2:]
    for k in keys:
        if len(k) > KEY_MAX_LENGTH:
            raise ClientError(BAD_FORMAT)
    return Get(keys, tokens[0] == b"gats", True, exptime)


def parse_delete(tokens: list[bytes]) -> Delete:
    """delete <key> [0] [noreply]"""
    n = len(tokens)
    if not 2 <= n <= 4:
        raise UnknownCommand()
    noreply = False
    if n > 2:
        hold_is_zero = tokens[2] == b"0"
        noreply = _noreply(tokens)
        if not ((n == 3 and (hold_is_zero or noreply)) or (n == 4 and hold_is_zero and noreply)):
            raise ClientError(BAD_FORMAT + ".  Usage: delete <key> [noreply]", noreply)
    return Delete(_key(tokens[1], noreply), noreply)


def parse_arith(tokens: list[bytes]) -> Arith:
    """incr|decr <key> <value> [noreply]"""
    if not 3 <= len(tokens) <= 4:
        raise UnknownCommand()
    noreply = _noreply(tokens)
    key = _key(tokens[1], noreply)
    delta = safe_strtoull(tokens[2])
    if delta is None:
        raise ClientError("invalid numeric delta argument", noreply)
    return Arith(tokens[0] == b"incr", key, delta, noreply)


def parse_touch(tokens: list[bytes]) -> Touch:
    """touch <key> <exptime> [noreply]"""
    if not 3 <= len(tokens) <= 4:
        raise UnknownCommand()
    noreply = _noreply(tokens)
    key = _key(tokens[1], noreply)
    exptime = safe_strtol(tokens[2])
    if exptime is None:
        raise ClientError("invalid exptime argument", noreply)
    return Touch(key, exptime, noreply)


def parse_flush_all(tokens: list[bytes]) -> FlushAll:
    """flush_all [delay] [noreply]"""
    n = len(tokens)
    if n > 3:
        raise UnknownCommand()
    noreply = _noreply(tokens)
    delay = 0
    if n != (2 if noreply else 1):
        delay = safe_strtol(tokens[1])
        if delay is None:
            raise ClientError("invalid exptime argument", noreply)
    return FlushAll(delay, noreply)


def parse_version(tokens: list[bytes]) -> Version:
    """version"""
    return Version()


def parse_verbosity(tokens: list[bytes]) -> Verbosity:
    """verbosity <level> [noreply]"""
    n = len(tokens)
    if not 2 <= n <= 3:
        raise UnknownCommand()
    noreply = _noreply(tokens)
    if noreply and n == 2:
        raise UnknownCommand()
    level = safe_strtoul(tokens[1])
    if level is None:
        raise ClientError(BAD_FORMAT, noreply)
    return Verbosity(level, noreply)


def parse_quit(tokens: list[bytes]) -> Quit:
    """quit"""
    return Quit()


def parse_shutdown(tokens: list[bytes]) -> Shutdown:
    """shutdown [graceful]  (checked by the handler: -A decides first)"""
    return Shutdown(tokens[1:])


def parse_stats(tokens: list[bytes]) -> Stats:
    """stats [<subcommand> ...]"""
    return Stats(tokens[1:])


def parse_cache_memlimit(tokens: list[bytes]) -> CacheMemlimit:
    """cache_memlimit <megabytes> [noreply]"""
    if not 2 <= len(tokens) <= 3:
        raise UnknownCommand()
    noreply = _noreply(tokens)
    mb = safe_strtoul(tokens[1])
    if mb is None:
        raise UnknownCommand(noreply=noreply)
    return CacheMemlimit(mb, noreply)


def parse_lru_crawler(tokens: list[bytes]) -> LruCrawler:
    """lru_crawler <crawl|metadump|sleep|tocrawl|enable|disable> ..."""
    if len(tokens) < 2:
        raise UnknownCommand()
    return LruCrawler(tokens[1:])


def parse_lru(tokens: list[bytes]) -> Lru:
    """lru <tune|mode|temp_ttl> ..."""
    if len(tokens) < 2:
        raise UnknownCommand()
    return Lru(tokens[1:])


def parse_slabs(tokens: list[bytes]) -> Slabs:
    """slabs reassign <src> <dst> | slabs automove <0|1|2>"""
    if len(tokens) < 2:
        raise UnknownCommand()
    return Slabs(tokens[1:])


def parse_refresh_certs(tokens: list[bytes]) -> RefreshCerts:
    """refresh_certs [noreply]  (TLS: tls.py reloads the certificate and key)"""
    return RefreshCerts(_noreply(tokens))


PARSERS = {
    b"get": parse_get, b"gets": parse_get, b"bget": parse_get,
    b"gat": parse_gat, b"gats": parse_gat,
    b"set": parse_storage, b"add": parse_storage, b"replace": parse_storage,
    b"append": parse_storage, b"prepend": parse_storage, b"cas": parse_storage,
    b"delete": parse_delete, b"incr": parse_arith, b"decr": parse_arith,
    b"touch": parse_touch, b"flush_all": parse_flush_all, b"version": parse_version,
    b"verbosity": parse_verbosity, b"quit": parse_quit, b"shutdown": parse_shutdown,
    b"stats": parse_stats, b"cache_memlimit": parse_cache_memlimit,
    b"lru_crawler": parse_lru_crawler, b"slabs": parse_slabs, b"lru": parse_lru,
    b"refresh_certs": parse_refresh_certs,
}
PARSERS.update(META_PARSERS)            # mg ms md ma mn me (meta.py)
PARSERS.update(WATCH_PARSERS)           # watch (watch_request.py)

DATA_HEADERS = {Store, *META_DATA_HEADERS}  # requests followed by a data block
