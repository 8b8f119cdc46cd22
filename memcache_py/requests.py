"""One immutable record per request the parser can produce (sans-IO).

NamedTuples rather than frozen dataclasses: they are as immutable and slotted, and several
times cheaper to build, which matters at one per command on the hot path.
Exptimes are the raw signed 32-bit values from the wire; the cache converts them.
"""

from __future__ import annotations

from typing import NamedTuple


class Get(NamedTuple):
    """get/gets/bget <key>+ and gat/gats <exptime> <key>+ (or one slice of a huge one)."""
    keys: list[bytes]
    with_cas: bool          # gets/gats
    touch: bool             # gat/gats
    exptime: int
    end: bool = True        # the last slice: its reply ends with END
    refs: dict | None = None  # item -> references so far in this command, shared by its
                              # slices; only set when the command can reach IT_REFCOUNT_LIMIT


class Store(NamedTuple):
    """set/add/replace/append/prepend/cas header; the value follows as ValueReceived."""
    mode: bytes             # b"set", b"add", b"replace", b"append", b"prepend", b"cas"
    key: bytes
    flags: int
    exptime: int
    nbytes: int
    cas_unique: int
    noreply: bool


class ValueReceived(NamedTuple):
    """The data block of the last Store/MetaSet is complete."""
    valid: bool             # ended in "\r\n"


class ValueDiscarded(NamedTuple):
    """The data block of a refused store has been swallowed."""


class Delete(NamedTuple):
    key: bytes
    noreply: bool


class Arith(NamedTuple):
    """incr/decr <key> <value> [noreply]."""
    incr: bool
    key: bytes
    delta: int
    noreply: bool


class Touch(NamedTuple):
    key: bytes
    exptime: int
    noreply: bool


class FlushAll(NamedTuple):
    delay: int              # <= 0 means now
    noreply: bool


class Stats(NamedTuple):
    args: list[bytes]


class Version(NamedTuple):
    pass


class Verbosity(NamedTuple):
    level: int
    noreply: bool


class Quit(NamedTuple):
    pass


class Shutdown(NamedTuple):
    args: list[bytes]       # [] or [b"graceful"]; anything else is refused by the handler


class CacheMemlimit(NamedTuple):
    megabytes: int
    noreply: bool


class LruCrawler(NamedTuple):
    args: list[bytes]


class Slabs(NamedTuple):
    args: list[bytes]


class Lru(NamedTuple):
    args: list[bytes]


class RefreshCerts(NamedTuple):
    noreply: bool           # an error line is sent even so, as memcached's write_and_free
