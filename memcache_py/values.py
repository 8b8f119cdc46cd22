"""ValueWriter: the one encoder of `VALUE <key> <flags> <bytes> [<cas>]` blocks for get/gets.

It reads an item's header through allocator.item's names and queues the block on a reply:
small values are copied into the line at once, larger or chunked ones are queued as views of
the arena with the item pinned until the views are written (the connection releases the
pins). It also counts the hit in the item's class (`stats slabs` get_hits). `lone_get` is the
whole of `get <key>` for the connection's lone-request shortcut (parser.lone_request).
"""

from __future__ import annotations

from allocator import ItemStore, PinSet
from allocator.item import FLAGS, ITEM_CHUNKED, NBYTES_MASK, NKEY_MASK, NKEY_SHIFT, SIZES

from .replies import END

INLINE_VALUE_MAX = 16384    # values up to this size are copied into the reply line at once;
                            # larger ones are queued as pinned views of the arena. Measured:
                            # below ~16 KB a copy costs less than pin + views + join (a 16 KB
                            # get: 3.2 us against 4.0), and 64 queued replies stay under 1 MB.
                            # The line is built from an mmap slice, a second copy that still
                            # beats one formatted from a memoryview (248 vs 304 ns at 100 B,
                            # 575 vs 695 ns at 16 KB)


class ValueWriter:
    """Queues VALUE blocks of one store's items; bound once per daemon (the get hot path)."""

    __slots__ = ("append", "append_hits", "lone_get")

    def __init__(self, store: ItemStore, clock, stats):
        words, mem, header_size = store.words, store.arena.mem, store.header_size
        counters, cas_of, value_views = store.slab_counters, store.cas_of, store.value_views
        class_of = store.class_of

        def append(out: list, pins: PinSet, key: bytes, off: int, with_cas: bool,
                   count_hit: bool = True) -> None:
            """Queue the block of a live item; `count_hit` is false for gat/gats, whose hits
            memcached counts as touches."""
            w = off >> 3
            sizes = words[w + SIZES]
            nbytes = sizes & NBYTES_MASK
            if count_hit:
                counters[class_of(off)].get_hits += 1
            if nbytes <= INLINE_VALUE_MAX and not sizes & ITEM_CHUNKED:
                start = off + header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
                if with_cas:
                    out.append(b"VALUE %s %d %d %d\r\n%s" % (
                        key, words[w + FLAGS], nbytes, cas_of(off), mem[start:start + nbytes + 2]))
                else:
                    out.append(b"VALUE %s %d %d\r\n%s" % (
                        key, words[w + FLAGS], nbytes, mem[start:start + nbytes + 2]))
                return
            if with_cas:
                out.append(b"VALUE %s %d %d %d\r\n" % (key, words[w + FLAGS], nbytes, cas_of(off)))
            else:
                out.append(b"VALUE %s %d %d\r\n" % (key, words[w + FLAGS], nbytes))
            out.extend(value_views(off))
            pins.add(off)                      # until these views are joined and written

        get, page_class, page_shift = store.get, store.slabs.page_class, store.slabs.page_shift

        def lone_get(out: list, pins: PinSet, key: bytes) -> bytes | None:
            """`get <key>` whole: the reply as bytes, or None once it is queued in `out` (a
            value sent as pinned views). The same bytes and counts as handle_get, whose loop
            with `append` costs +85 bytecodes here; tests/unit/test_inline_copies.py checks
            the two agree."""
            off = get(key, clock.current)
            stats.cmd_get += 1
            if off == -1:                              # NIL
                stats.get_misses += 1
                return END
            stats.get_hits += 1
            w = off >> 3
            sizes = words[w + SIZES]
            nbytes = sizes & NBYTES_MASK
            if nbytes > INLINE_VALUE_MAX or sizes & ITEM_CHUNKED:
                append(out, pins, key, off, False)
                out.append(END)
                return None
            # append()'s small-value case, with END in the same format and class_of inlined
            counters[page_class[off >> page_shift]].get_hits += 1
            start = off + header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
            return b"VALUE %s %d %d\r\n%sEND\r\n" % (key, words[w + FLAGS], nbytes,
                                                      mem[start:start + nbytes + 2])

        def append_hits(out: list, pins: PinSet, keys: list[bytes], offs: list[int],
                        with_cas: bool) -> int:
            """append() for each found item of a multi-get (`offs[i]` NIL: a miss); the
            number of hits. The small plain value is append()'s case written out in the loop:
            a call per key costs +200 bytecodes on a 10-key get (3 048 against 2 829)."""
            hits = 0
            for key, off in zip(keys, offs):
                if off == -1:                          # NIL
                    continue
                hits += 1
                w = off >> 3
                sizes = words[w + SIZES]
                nbytes = sizes & NBYTES_MASK
                if with_cas or nbytes > INLINE_VALUE_MAX or sizes & ITEM_CHUNKED:
                    append(out, pins, key, off, with_cas)
                    continue
                counters[page_class[off >> page_shift]].get_hits += 1   # class_of, inlined
                start = off + header_size + ((sizes >> NKEY_SHIFT) & NKEY_MASK)
                out.append(b"VALUE %s %d %d\r\n%s" % (key, words[w + FLAGS], nbytes,
                                                       mem[start:start + nbytes + 2]))
            return hits

        self.append = append
        self.append_hits = append_hits
        self.lone_get = lone_get
