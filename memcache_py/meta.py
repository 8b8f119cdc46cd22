"""Meta protocol requests (mg ms md ma mn me): parsing and reply encoding (sans-IO).

Each `parse_*` takes one line's tokens and returns a NamedTuple request or raises the error
memcached 1.6.18 answers (proto_text.c). Flags are checked by `preparse`, memcached's
`_meta_flag_preparse`: one letter set shared by every meta command, per-command error wording.
An `ms` error found after the data length is known comes back in `MetaSet.error`, so the handler
can swallow the data block first. No asyncio, socket, numpy or allocator import here.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

from .cnum import safe_strtol, safe_strtoul, safe_strtoull
from .errors import BAD_FORMAT, ClientError, UnknownCommand

KEY_MAX_LENGTH = 250            # memcached KEY_MAX_LENGTH, checked on the raw (encoded) token
MFLAG_MAX_OPT_LENGTH = 20       # memcached: ntokens (incl. the terminal token) above this fails
MAX_META_TOKENS = MFLAG_MAX_OPT_LENGTH - 1   # ...so at most 19 real tokens on a meta line
MFLAG_MAX_OPAQUE_LENGTH = 32    # whole O token, letter included
INT32_MAX = 2**31 - 1

# Every letter _meta_flag_preparse knows; one meaningless for a command is silently ignored.
META_FLAG_LETTERS = frozenset(b"bNTRlOPLkstcfvhuqFCMJDI")

MS_MODES = {ord("S"): b"set", ord("E"): b"add", ord("A"): b"append", ord("P"): b"prepend",
            ord("R"): b"replace"}
MA_INCR_MODES = {ord("I"): True, ord("+"): True, ord("D"): False, ord("-"): False}

DUPLICATE_FLAG = "duplicate flag"
INVALID_FLAG = "invalid flag"
INVALID_OR_DUPLICATE = "invalid or duplicate flag"     # md/ma: any preparse error
BAD_TOKEN = "bad token in command line format"
OPAQUE_TOO_LONG = "opaque token too long"


# ---- requests -------------------------------------------------------------------------------
class MetaGet(NamedTuple):
    """mg <key> <flags>*"""
    key: bytes
    flags: tuple[bytes, ...]    # flag tokens in request order: they drive the reply
    key_binary: bool            # b
    value: bool                 # v
    quiet: bool                 # q
    no_update: bool             # u
    exptime: int | None         # T<ttl>, raw wire value
    vivify: int | None          # N<ttl>
    recache: int | None         # R<ttl>


class MetaSet(NamedTuple):
    """ms <key> <datalen> <flags>*  (the data block follows; the parser routes `nbytes` + 2)"""
    key: bytes
    nbytes: int
    flags: tuple[bytes, ...]
    key_binary: bool
    client_flags: int           # F
    exptime: int                # T, raw wire value (0 = never)
    mode: bytes                 # Cache vocabulary: set add append prepend replace cas
    cas: int                    # C
    set_stale: bool             # I together with a CAS mode
    quiet: bool
    error: str | None           # CLIENT_ERROR text: the handler swallows the block, then replies


class MetaDelete(NamedTuple):
    """md <key> <flags>*"""
    key: bytes
    flags: tuple[bytes, ...]
    key_binary: bool
    quiet: bool
    cas: int | None             # C
    set_stale: bool             # I
    exptime: int | None         # T (used with I only)


class MetaArith(NamedTuple):
    """ma <key> <flags>*"""
    key: bytes
    flags: tuple[bytes, ...]
    key_binary: bool
    quiet: bool
    value: bool                 # v
    incr: bool                  # M: I/+ (default) or D/-
    delta: int                  # D, default 1
    initial: int                # J, default 0
    cas: int                    # C; 0 means no check (do_add_delta's *cas != 0)
    vivify: int | None          # N
    exptime: int | None         # T


class MetaDebug(NamedTuple):
    """me <key> [b]"""
    key: bytes


class MetaNoop(NamedTuple):
    """mn"""


# ---- flag preparsing ------------------------------------------------------------------------
class MetaFlags:
    """memcached's `struct _meta_flags`: what preparse learnt from the flag tokens."""

    __slots__ = ("key", "key_binary", "value", "quiet", "no_update", "vivify", "exptime",
                 "recache", "client_flags", "cas", "mode", "delta", "initial", "set_stale")

    def __init__(self, key: bytes):
        self.key = key
        self.key_binary = self.value = self.quiet = self.no_update = self.set_stale = False
        self.vivify = self.exptime = self.recache = self.cas = self.mode = None
        self.client_flags = 0
        self.delta = 1
        self.initial = 0


_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DTABLE = {c: i for i, c in enumerate(_B64_ALPHABET)}
_DTABLE[ord("=")] = 0                   # memcached's dtable decodes '=' as zero bits


def decode_key(token: bytes) -> bytes | None:
    """memcached's base64_decode; None where it returns 0 (the key is then rejected).

    Bytes outside the alphabet are skipped; the symbols left must be a multiple of 4; decoding
    stops after the first block holding a '=', which drops one or two bytes (three: invalid).
    """
    symbols = [c for c in token if c in _DTABLE]
    if not symbols or len(symbols) % 4:
        return None
    out = bytearray()
    for i in range(0, len(symbols), 4):
        block = symbols[i:i + 4]
        a, b, c, d = (_DTABLE[s] for s in block)
        out += bytes((((a << 2) | (b >> 4)) & 0xFF, ((b << 4) | (c >> 2)) & 0xFF,
                      ((c << 6) | d) & 0xFF))
        pad = block.count(61)           # '='
        if pad:
            if pad > 2:
                return None
            del out[-pad:]
            break
    return bytes(out) or None


def _arg_b(f: MetaFlags, tok: bytes) -> str | None:
    key = decode_key(f.key)
    f.key_binary = True
    if key is None:
        f.key = b""
        return "error decoding key"
    f.key = key
    return None


def _arg_number(name: str, convert, error: str = BAD_TOKEN):
    """A flag whose token is a number: `convert` (a cnum safe_strto*) it into `f.<name>`,
    or answer `error` when memcached's conversion would fail."""
    def parse(f: MetaFlags, tok: bytes) -> str | None:
        value = convert(tok[1:])
        if value is None:
            return error
        setattr(f, name, value)
        return None
    return parse


def _arg_M(f: MetaFlags, tok: bytes) -> str | None:
    if len(tok) != 2:
        return "incorrect length for M token"
    f.mode = tok[1]
    return None


def _set(name: str):
    def parse(f: MetaFlags, tok: bytes) -> None:
        setattr(f, name, True)
    return parse


_ARGS = {
    ord("b"): _arg_b, ord("N"): _arg_number("vivify", safe_strtol),
    ord("T"): _arg_number("exptime", safe_strtol),
    ord("R"): _arg_number("recache", safe_strtol),
    ord("F"): _arg_number("client_flags", safe_strtoul, ""),  # memcached flags the error
                                                              # but keeps the message
    ord("C"): _arg_number("cas", safe_strtoull),
    ord("J"): _arg_number("initial", safe_strtoull, "invalid numeric initial value"),
    ord("D"): _arg_number("delta", safe_strtoull, "invalid numeric delta value"),
    ord("M"): _arg_M, ord("v"): _set("value"), ord("q"): _set("quiet"),
    ord("u"): _set("no_update"), ord("I"): _set("set_stale"),
}


def preparse(tokens: list[bytes], start: int) -> tuple[MetaFlags, str | None]:
    """memcached's _meta_flag_preparse over tokens[start:]: (flags, error text or None).

    A repeated letter (or a byte >= 127) and an unknown letter stop at once; a bad argument
    is remembered and parsing goes on, so the last such message wins.
    """
    f = MetaFlags(tokens[1])
    seen: set[int] = set()
    error = None
    for tok in tokens[start:]:
        o = tok[0]
        if o >= 127 or o in seen:
            return f, DUPLICATE_FLAG
        seen.add(o)
        if o not in META_FLAG_LETTERS:
            return f, INVALID_FLAG
        parse = _ARGS.get(o)
        if parse is not None:
            err = parse(f, tok)
            if err is not None:
                error = err or error or BAD_FORMAT
    return f, error


def _check_line(tokens: list[bytes], too_many: str) -> None:
    """Token count, key length and flag count, in memcached's order."""
    if len(tokens) < 2:
        raise UnknownCommand()
    if len(tokens[1]) > KEY_MAX_LENGTH:
        raise ClientError(BAD_FORMAT)
    if len(tokens) > MAX_META_TOKENS:
        raise ClientError(too_many)


# ---- command lines --------------------------------------------------------------------------
def parse_mg(tokens: list[bytes]) -> MetaGet:
    """mg <key> <flags>*\\r\\n"""
    _check_line(tokens, "options flags are too long")
    f, error = preparse(tokens, 2)
    if error is not None:
        raise ClientError(error)
    return MetaGet(f.key, tuple(tokens[2:]), f.key_binary, f.value, f.quiet, f.no_update,
                   f.exptime, f.vivify, f.recache)


def parse_ms(tokens: list[bytes]) -> MetaSet:
    """ms <key> <datalen> <flags>*\\r\\n"""
    if len(tokens) < 2:
        raise UnknownCommand()
    if len(tokens[1]) > KEY_MAX_LENGTH or len(tokens) == 2:
        raise ClientError(BAD_FORMAT)
    if len(tokens) > MAX_META_TOKENS:
        raise ClientError("options flags too long")
    nbytes = safe_strtol(tokens[2])
    if nbytes is None or nbytes < 0 or nbytes > INT32_MAX - 2:
        raise ClientError(BAD_FORMAT)       # the data block is not swallowed
    f, error = preparse(tokens, 3)
    flags = tuple(tokens[3:])
    mode = MS_MODES.get(f.mode if f.mode is not None else ord("S"))
    if error is None:
        if mode is None:
            error = "invalid mode for ms M token"
        elif any(t[0] == 79 and len(t) > MFLAG_MAX_OPAQUE_LENGTH for t in flags):  # O
            error = OPAQUE_TOO_LONG
    if f.cas is not None and mode in (b"set", b"replace"):
        mode = b"cas"                       # memcached upgrades S/R with C to NREAD_CAS
    return MetaSet(f.key, nbytes, flags, f.key_binary, f.client_flags, f.exptime or 0,
                   mode or b"set", f.cas or 0, f.set_stale and mode == b"cas", f.quiet, error)


def parse_md(tokens: list[bytes]) -> MetaDelete:
    """md <key> <flags>*\\r\\n"""
    _check_line(tokens, "options flags too long")
    f, error = preparse(tokens, 2)
    if error is not None:
        raise ClientError(INVALID_OR_DUPLICATE)
    return MetaDelete(f.key, tuple(tokens[2:]), f.key_binary, f.quiet, f.cas, f.set_stale,
                      f.exptime)


def parse_ma(tokens: list[bytes]) -> MetaArith:
    """ma <key> <flags>*\\r\\n"""
    _check_line(tokens, "options flags too long")
    f, error = preparse(tokens, 2)
    if error is not None:
        raise ClientError(INVALID_OR_DUPLICATE)
    incr = MA_INCR_MODES.get(f.mode, None) if f.mode is not None else True
    if incr is None:
        raise ClientError("invalid mode for ma M token")
    return MetaArith(f.key, tuple(tokens[2:]), f.key_binary, f.quiet, f.value, incr, f.delta,
                     f.initial, f.cas or 0, f.vivify, f.exptime)


def parse_me(tokens: list[bytes]) -> MetaDebug:
    """me <key> [b]\\r\\n"""
    if len(tokens) < 2 or len(tokens[1]) > KEY_MAX_LENGTH:
        raise ClientError(BAD_FORMAT)
    key = tokens[1]
    if len(tokens) >= 3 and tokens[2] == b"b":
        key = decode_key(key)
        if key is None:
            raise ClientError(BAD_FORMAT)
    return MetaDebug(key)


def parse_mn(tokens: list[bytes]) -> MetaNoop:
    """mn\\r\\n"""
    return MetaNoop()


# ---- reply encoding -------------------------------------------------------------------------
def encode_key(key: bytes, binary: bool) -> bytes:
    """memcached's META_KEY: ` k<key>`, or ` k<base64>` and a bare ` b` for a binary key."""
    if binary:
        return b" k" + base64.b64encode(key) + b" b"
    return b" k" + key


def opaque(tok: bytes) -> bytes:
    """` O<opaque>` echoed verbatim; longer than 32 bytes is an error (checked when echoed)."""
    if len(tok) > MFLAG_MAX_OPAQUE_LENGTH:
        raise ClientError(OPAQUE_TOO_LONG)
    return b" " + tok


def echo_opaque_key(flags: tuple[bytes, ...], key: bytes, binary: bool) -> bytes:
    """The O and k return flags, in request order (misses, md, ma without an item)."""
    out = b""
    for tok in flags:
        o = tok[0]
        if o == 79:         # O
            out += opaque(tok)
        elif o == 107:      # k
            out += encode_key(key, binary)
    return out


def server_flags(token_sent: bool, stale: bool, won: bool) -> bytes:
    """Flags mg adds after the requested ones, in memcached's order: Z, X, W."""
    return (b" Z" if token_sent else b"") + (b" X" if stale else b"") + (b" W" if won else b"")


META_PARSERS = {b"mg": parse_mg, b"ms": parse_ms, b"md": parse_md, b"ma": parse_ma,
                b"me": parse_me, b"mn": parse_mn}
META_DATA_HEADERS: set[type] = {MetaSet}      # ms headers: a data block follows
