"""Item layout inside a chunk, and the header fields' names.

Like memcached, an item's metadata lives in the first bytes of its own chunk, so the arena is
the only place item state is kept (measured: an int64 memoryview read+write costs ~97 ns
against ~47 ns for a Python list, but side lists would add ~50 bytes of Python objects per
chunk; see docs/architecture.md). Offsets are byte offsets into the arena; `w = off >> 3` is
the item's first header word in `Arena.words`.

    chunk (off) ─┬─ word 0  NEXT     LRU: toward the tail; free list: next free chunk; -1 = none
                 ├─ word 1  PREV     LRU: toward the head; -1 = none
                 ├─ word 2  TIMES    last access time | exptime << 32   (server-relative seconds)
                 ├─ word 3  SIZES    nbytes | nkey << 32 | it_flags << 40
                 ├─ word 4  FLAGS    the client's 32-bit flags
                 ├─ word 5  (spare: memcached's hash-chain pointer)
                 ├─ word 6  CAS      only when CAS is enabled (no -C)
                 ├─ key              nkey bytes at off + header_size
                 └─ data             nbytes + "\r\n" right after the key
                                      (chunked items continue in the chunks of `chains[off]`)

The header is 48 bytes, 56 with CAS: memcached's `sizeof(item)` + CAS, so an item never needs
more than the `ntotal` that picked its class.
"""

NEXT = 0
PREV = 1
TIMES = 2
SIZES = 3
FLAGS = 4
CAS = 6

HEADER_SIZE = 48            # bytes, without CAS
HEADER_SIZE_CAS = 56        # bytes, with CAS

NIL = -1                    # "no item" in NEXT/PREV and list heads

TIME_MASK = 0xFFFFFFFF      # TIMES low half: last access time
NBYTES_MASK = 0xFFFFFFFF    # SIZES low half: value length without CRLF
NKEY_SHIFT = 32
NKEY_MASK = 0xFF
FLAGS_SHIFT = 40            # it_flags live in SIZES from this bit

# it_flags, memcached's names where it has one.
ITEM_LINKED = 1 << FLAGS_SHIFT      # in the index and an LRU
ITEM_FETCHED = 2 << FLAGS_SHIFT     # read at least once since stored
ITEM_CHUNKED = 4 << FLAGS_SHIFT     # value continues in further chunks
ITEM_STALE = 8 << FLAGS_SHIFT       # meta: marked stale by an invalidation
ITEM_TOKEN_SENT = 16 << FLAGS_SHIFT  # meta: a win token was handed out
ITEM_FREE = 32 << FLAGS_SHIFT       # on a free list (for check_invariants)
FREE_FLAG_WORD = ITEM_FREE          # the whole SIZES word of a free chunk
ITEM_KEY_BINARY = 64 << FLAGS_SHIFT  # meta: the key came base64-encoded (`b`); echoes re-encode


class ItemFields:
    """Reading and writing one item's fields in the arena (the layout above, by name).

    The only code that knows where a field sits; the daemon reads items through these (or
    through ItemStore, which hands them on). `chains` maps a chunked item's first chunk to
    its further chunks (owned by ItemStore).
    """

    __slots__ = ("words", "mem", "bytes", "header_size", "cas_enabled", "chunk_max", "chains")

    def __init__(self, arena, header_size: int, cas_enabled: bool, chunk_max: int,
                 chains: dict[int, list[int]]):
        self.words = arena.words            # int64 header view
        self.mem = arena.mem                # mmap: slices are cheap bytes copies
        self.bytes = arena.bytes            # writable byte view
        self.header_size = header_size
        self.cas_enabled = cas_enabled
        self.chunk_max = chunk_max          # slab_chunk_max: the span of one chunk of a chain
        self.chains = chains

    def key_of(self, off: int) -> bytes:
        nkey = (self.words[(off >> 3) + SIZES] >> NKEY_SHIFT) & NKEY_MASK
        start = off + self.header_size
        return self.mem[start:start + nkey]

    def nbytes_of(self, off: int) -> int:
        """Value length without the CRLF."""
        return self.words[(off >> 3) + SIZES] & NBYTES_MASK

    def flags_of(self, off: int) -> int:
        return self.words[(off >> 3) + FLAGS]

    def cas_of(self, off: int) -> int:
        return self.words[(off >> 3) + CAS] if self.cas_enabled else 0

    def times_of(self, off: int) -> tuple[int, int]:
        """(last access time, exptime), server-relative seconds."""
        t = self.words[(off >> 3) + TIMES]
        return t & TIME_MASK, t >> 32

    def it_flags(self, off: int) -> int:
        """The SIZES word; test it against the ITEM_* bits."""
        return self.words[(off >> 3) + SIZES]

    def set_it_flags(self, off: int, set_bits: int = 0, clear_bits: int = 0) -> None:
        w = (off >> 3) + SIZES
        words = self.words
        words[w] = (words[w] | set_bits) & ~clear_bits

    def set_exptime(self, off: int, exptime: int) -> None:
        w = (off >> 3) + TIMES
        words = self.words
        words[w] = (words[w] & TIME_MASK) | (exptime << 32)

    def is_chunked(self, off: int) -> bool:
        """The value spans further chunks (an item above slab_chunk_max)."""
        return bool(self.words[(off >> 3) + SIZES] & ITEM_CHUNKED)

    def value_start(self, off: int) -> int:
        """Arena offset of the first value byte (for an unchunked item: the whole value)."""
        return off + self.header_size + ((self.words[(off >> 3) + SIZES] >> NKEY_SHIFT)
                                         & NKEY_MASK)

    def value_views(self, off: int) -> list[memoryview]:
        """The value and its CRLF, as writable views of the arena (several if chunked)."""
        sizes = self.words[(off >> 3) + SIZES]
        n = (sizes & NBYTES_MASK) + 2
        start = off + self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
        mv = self.bytes
        if not sizes & ITEM_CHUNKED:
            return [mv[start:start + n]]
        chunk_max = self.chunk_max
        first = min(n, off + chunk_max - start)
        views = [mv[start:start + first]]
        n -= first
        for extra in self.chains.get(off, ()):
            take = min(n, chunk_max)
            views.append(mv[extra:extra + take])
            n -= take
        return views

    def fill_value(self, off: int, src) -> None:
        """Write a received value and its CRLF (`src`, bytes-like) into a reserved item."""
        sizes = self.words[(off >> 3) + SIZES]
        if not sizes & ITEM_CHUNKED:                # one span: a single slice assignment
            start = off + self.header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
            self.mem[start:start + len(src)] = src
            return
        at = 0
        for view in self.value_views(off):
            view[:] = src[at:at + len(view)]
            at += len(view)

    def write_value(self, off: int, data: bytes) -> None:
        """Write a whole value, adding its CRLF, into an item's chunk(s)."""
        self.fill_value(off, data + b"\r\n")

    def value_bytes(self, off: int) -> bytes:
        """The value without CRLF, copied (for incr/decr, append and tests; not the get path)."""
        return b"".join(self.value_views(off))[:-2]
