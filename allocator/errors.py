"""The allocator's only failure modes. The daemon maps them to memcached's replies."""


class AllocatorError(Exception):
    """Base of the allocator's failures."""


class ItemTooLarge(AllocatorError):
    """`ntotal` exceeds the item size maximum (`-I`): memcached's "object too large for cache"."""


class OutOfMemory(AllocatorError):
    """No free chunk, no page left, and the 5 LRU tail candidates could not be taken."""
