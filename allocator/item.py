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
