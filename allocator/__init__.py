"""allocator: memcached's slab allocator over one numpy arena. Sizes, ids and bytes only.

The rules every caller relies on:

* Item lifecycle: `reserve` a chunk (pinned, unlinked) -> write the value into
  `value_views(off)` -> `link` it under its key (replacing the old item) or `release` it.
  `unlink` takes an item out of the index and LRU; its chunk is freed at once if unpinned.
* Pins are memcached's refcount. A pinned chunk is never evicted, never freed, never reused;
  unlinking a pinned item frees its chunk only when the last pin goes. Hold pins through a
  `PinSet` (a context manager, or owned by a connection that releases it on every teardown
  path), never by bare pin()/unpin() pairs in daemon code.
* Atomicity: every call here is synchronous. The daemon runs on one event loop and must never
  `await` between `reserve` and `link`/`release`, in the middle of a read-modify-write of an
  item, or while walking an LRU. That is what memcached's item locks give it; there are no
  threads here, so there is no lock order to keep. If threads are ever added, take the store
  lock before any arena access and never call back into the daemon with it held.
* Page moves (`-o slab_reassign`): the mover copies an item to another chunk only while
  it is unpinned, and swaps the copy in under its key in one synchronous call; a pinned
  chunk of the page being emptied is waited for, so a reply never reads a reused chunk.
* Eviction: when a class has no free chunk and the arena no page for it, at most 5 items are
  looked at from the tail of the class's LRU (eviction.py); if none can be taken the
  allocation fails with `OutOfMemory`.

The rooms, one job each (ItemStore in store.py is the facade the daemon calls):
    arena.py      the one numpy buffer, cut into pages
    slabclass.py  the class table (which chunk size a size lands in) and memcached's ntotal
    slabs.py      pages given to classes, per-class free lists of chunks
    item.py       the item header layout and ItemFields, the one reader/writer of its fields
    index.py      key -> item offset, keys compared in the items themselves
    lru.py        per-class LRU lists linked through the header words
    pins.py       refcounts (Pins) and PinSet, the way daemon code holds them
    expiry.py     Liveness: expired or flushed at a given time
    eviction.py   TailPuller: the 5-candidate tail walk that reclaims and evicts
    crawler.py    Crawler, AutoCrawl: the LRU crawler, a bounded step at a time, and when
                  each list is crawled next
    pagemover.py  PageMover: empty a class's oldest page for another class or the global pool
    automove.py   Automove: memcached's once-a-second choice of which page to move
    invariants.py check_store: every rule above, asserted
    stats.py      per-class counters with memcached's names

Nothing here imports the daemon, asyncio or sockets.
"""

from .arena import Arena
from .errors import AllocatorError, ItemTooLarge, OutOfMemory
from .crawler import AutoCrawl, Crawler
from .eviction import TAIL_TRIES, TailPuller
from .expiry import Liveness
from .item import NIL, ItemFields
from .lru import LruList
from .pins import Pins, PinSet
from .slabclass import PAGE_SIZE, SlabClass, SlabClassTable, item_ntotal
from .slabs import SlabAllocator
from .stats import ItemClassStats, SlabClassCounters
from .store import ITEM_UPDATE_INTERVAL, ItemStore

__all__ = [
    "Arena", "AllocatorError", "ItemTooLarge", "OutOfMemory", "TAIL_TRIES", "TailPuller",
    "Liveness", "NIL", "ItemFields", "LruList", "Pins", "PinSet", "PAGE_SIZE", "SlabClass",
    "SlabClassTable", "item_ntotal", "SlabAllocator", "ItemClassStats", "SlabClassCounters",
    "ITEM_UPDATE_INTERVAL", "ItemStore", "Crawler", "AutoCrawl",
]
