"""MemoryBudget: bytes the whole daemon may hold for one purpose, shared by all connections.

Per-connection bounds alone let N connections hold N times the bound. A budget caps the sum:
a connection takes bytes for what it holds and gives them back when it lets go; when the
budget is spent the caller falls back (memcached's `SERVER_ERROR out of memory reading
request`, or keeping arena views pinned instead of copying them). Single event loop: no lock.
"""

from __future__ import annotations

MB = 1024 * 1024
LINE_BUDGET = 32 * MB       # partial get lines past 2048 bytes, when no read_buf_mem_limit
COPY_BUDGET = 64 * MB       # queued replies copied out of the arena to release their pins


class MemoryBudget:
    """A byte count with a ceiling; `take` either takes all it is asked for or nothing."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        """Reserve `n` bytes; False (and nothing reserved) if that would pass the limit."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        """Return `n` bytes taken earlier."""
        self.used -= n
        assert self.used >= 0, "a budget was given back more than was taken"

    @property
    def available(self) -> int:
        return self.limit - self.used
