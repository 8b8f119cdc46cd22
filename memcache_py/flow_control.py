"""FlowControl: when a connection may read and when it may write (uvicorn's flow_control).

The transport tells us when its send buffer passes its high-water mark (`pause_writing`) and
when it drains (`resume_writing`). While writing is paused the connection stops reading and
stops executing buffered requests, so a client that sends without reading cannot make the
daemon's memory grow: what it holds is bounded by the transport's buffer plus the replies
already queued (whose items stay pinned until sent).
"""

from __future__ import annotations

import asyncio

WRITE_HIGH_WATER = 256 * 1024   # transport send buffer above which we stop producing
WRITE_LOW_WATER = 64 * 1024     # ... and below which we start again
WRITE_PIECE = 256 * 1024        # largest single joined write handed to the transport


class FlowControl:
    """Idempotent pause/resume of reading, and the writing-paused flag."""

    __slots__ = ("transport", "read_paused", "write_paused")

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
