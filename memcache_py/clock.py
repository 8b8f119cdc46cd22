"""Clock: memcached's server-relative seconds and its exptime rules (protocol.md §4).

memcached keeps `current_time` as seconds since `process_started`, which it sets to 62 s
before the real start so that `time - 60` never underflows (`uptime` therefore starts at 2).
The time ticks once a second from a timer, so reading it on the hot path is an attribute read.
`FakeClock` lets tests advance time instead of sleeping.
"""

from __future__ import annotations

import time

REALTIME_MAXDELTA = 60 * 60 * 24 * 30   # exptimes above this are absolute Unix times
ITEM_UPDATE_INTERVAL = 60
START_OFFSET = ITEM_UPDATE_INTERVAL + 2  # process_started = start - 62


class Clock:
    """Server-relative seconds, refreshed by `tick()` (the daemon calls it every second)."""

    def __init__(self) -> None:
        self.process_started = int(time.time()) - START_OFFSET
        self._mono_start = time.monotonic() - START_OFFSET
        self.current = START_OFFSET
        self.tick()

    def tick(self) -> int:
        self.current = int(time.monotonic() - self._mono_start)
        return self.current

    def resume(self, process_started: int, current: int) -> None:
        """A warm restart: the old process's origin, and `current` seconds since it (the
        time at the stop plus the time spent stopped), so TTLs kept running while down."""
        self.process_started = process_started
        self._mono_start = time.monotonic() - current
        self.current = current

    @property
    def unix_now(self) -> int:
        return self.process_started + self.current

    @property
    def uptime(self) -> int:
        return self.current - ITEM_UPDATE_INTERVAL

    def realtime(self, exptime: int) -> int:
        """memcached's realtime(): a wire exptime as server-relative seconds (0 = never).

        Negative exptimes mean "already expired", as EXPTIME_TO_POSITIVE_TIME maps them.
        """
        if exptime == 0:
            return 0
        if exptime < 0:
            exptime = REALTIME_MAXDELTA + 1
        if exptime > REALTIME_MAXDELTA:
            if exptime <= self.process_started:
                return 1
            return exptime - self.process_started
        return exptime + self.current

    def to_unix(self, rel: int) -> int:
        """A server-relative time as a Unix timestamp (stats cachedump, metadump)."""
        return self.process_started + rel


class FakeClock(Clock):
    """A clock that moves only when a test says so."""

    def __init__(self, start_unix: int = 1_700_000_000) -> None:
        self.process_started = start_unix - START_OFFSET
        self.current = START_OFFSET

    def tick(self) -> int:
        return self.current

    def resume(self, process_started: int, current: int) -> None:
        self.process_started = process_started
        self.current = current

    def advance(self, seconds: int) -> None:
        self.current += seconds
