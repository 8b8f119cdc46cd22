"""`lru_crawler metadump`: a client connection lent to the LRU crawler until the dump ends.

memcached hands the connection to its crawler thread (conn_watch) and the crawler writes
into a 128 KB buffer, waiting while the client has not read it. Here the connection stops
running requests while it is lent (`MemcacheProtocol.lent`, reading paused, pipelined input
kept), and `MetadumpSink` is the crawler's sink (allocator/crawler.py): one line per live item,
written at the end of each crawler step, no more once 128 KB wait unread, `END` at the end,
and then the connection runs its pending requests again. A client that goes away abandons
the dump.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_from_bytes

from allocator.item import ITEM_FETCHED

from .replies import END

BUFFER = 128 * 1024          # crawler.c: the client's bipbuf
LINE_ROOM = 8 * 1024         # LRU_CRAWLER_WRITEBUF: what one line asks of the buffer


def metadump_line(store: Any, clock: Any, off: int) -> bytes:
    """memcached 1.6.18's line: key=<uri-encoded> exp= la= cas= fetch= cls= size=, bare \\n."""
    last, exptime = store.times_of(off)
    return b"key=%s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\n" % (
        quote_from_bytes(store.key_of(off), safe="").encode(),
        clock.to_unix(exptime) if exptime else -1, clock.to_unix(last),
        store.cas_of(off), b"yes" if store.it_flags(off) & ITEM_FETCHED else b"no",
        store.class_of(off), store.item_total(off))


class MetadumpSink:
    """The crawler's sink for one metadump: a lent connection."""

    def __init__(self, protocol: Any, store: Any, clock: Any, stats: Any):
        self.protocol = protocol
        self.transport = protocol.transport
        self.store, self.clock, self.stats = store, clock, stats
        self.lines: list[bytes] = []
        self.size = 0

    def ready(self) -> bool:
        return self.size + self.transport.get_write_buffer_size() <= BUFFER - LINE_ROOM

    def closed(self) -> bool:
        return self.transport.is_closing()

    def item(self, off: int) -> None:
        line = metadump_line(self.store, self.clock, off)
        self.lines.append(line)
        self.size += len(line)

    def flush(self) -> None:
        if self.lines and not self.closed():
            data = b"".join(self.lines)
            self.stats.bytes_written += len(data)
            self.transport.write(data)
        self.lines.clear()
        self.size = 0

    def finish(self) -> None:
        """The dump is over: its last lines and END, then the connection is the client's."""
        self.lines.append(END)
        self.flush()
        self.protocol.end_loan()
