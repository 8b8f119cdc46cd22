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
* Eviction: when a class has no free chunk and the arena no page for it, at most 5 items are
  looked at from the tail of the class's LRU (eviction.py); if none can be taken the
  allocation fails with `OutOfMemory`.

Nothing here imports the daemon, asyncio or sockets.
"""

from .arena import Arena
from .errors import AllocatorError, ItemTooLarge, OutOfMemory
from .eviction import TAIL_TRIES, pull_tail
from .item import NIL
from .lru import LruList
from .slabclass import PAGE_SIZE, SlabClass, SlabClassTable, item_ntotal
from .slabs import SlabAllocator
from .stats import ItemClassStats, SlabClassCounters
from .store import ITEM_UPDATE_INTERVAL, ItemStore, PinSet

__all__ = [
    "Arena", "AllocatorError", "ItemTooLarge", "OutOfMemory", "TAIL_TRIES", "pull_tail", "NIL",
    "LruList", "PAGE_SIZE", "SlabClass", "SlabClassTable", "item_ntotal", "SlabAllocator",
    "ItemClassStats", "SlabClassCounters", "ITEM_UPDATE_INTERVAL", "ItemStore", "PinSet",
]
