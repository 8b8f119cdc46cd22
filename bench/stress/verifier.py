"""Checks every value the server returns: against its own header, and against the ledger.

`check_value` needs only the key and the bytes: the header says which key, version and length
the value was made for (bench/stress/workload.py), and the rest must be exactly the pattern
for that key and version. A flipped byte, a truncated or padded value, another key's value or
wrong client flags each give their own verdict.

`KeyLedger` answers the other half of "is this the bytes last written for that key": which
versions a read may still return. Theory of operation, per key of one worker (no other worker
writes that key, and one event loop runs all of a worker's connections, so no locks):

* every set and delete takes a new version from one counter;
* writes in flight at the same time on one key form a group; the server may apply them in any
  order, so once the group is over the key holds one of the group's versions, or nothing;
* a read sent while no group is open may return only a version >= the `floor`, the lowest
  version of the last finished group (0 at the start); a version below it is STALE;
* a group in which a write failed (SERVER_ERROR, timeout, lost connection) leaves the floor
  where it was: memcached drops the old item when a set fails, another server might keep it.
"""

from __future__ import annotations

import enum
import zlib

from bench.stress.workload import HEADER_LEN, expected_body, flags_for

_HEX = frozenset(b"0123456789abcdef")


class Verdict(enum.IntEnum):
    OK = 0
    BAD_HEADER = 1      # not our header at all: bytes of something else, or garbage
    WRONG_KEY = 2       # a whole, valid value of another key
    BAD_LENGTH = 3      # truncated or padded: header length != bytes received
    BAD_FLAGS = 4       # client flags differ from the ones written with this version
    CORRUPT_BODY = 5    # header fine, some byte of the body differs
    UNKNOWN_VERSION = 6  # a version this worker never wrote for the key
    STALE = 7           # a real earlier version, older than what the ledger allows


CORRUPTION = frozenset(Verdict) - {Verdict.OK, Verdict.STALE}


def check_value(key: bytes, data: bytes, flags: int | None = None) -> tuple[Verdict, int]:
    """Verdict on `data` (without the trailing CRLF) returned for `key`, and its version.

    The version is -1 when the header cannot be read.
    """
    if len(data) < HEADER_LEN or not _HEX.issuperset(data[:HEADER_LEN]):
        return Verdict.BAD_HEADER, -1
    crc = int(data[0:8], 16)
    version = int(data[8:16], 16)
    length = int(data[16:24], 16)
    if crc != zlib.crc32(key):
        return Verdict.WRONG_KEY, version
    if length != len(data):
        return Verdict.BAD_LENGTH, version
    if data[HEADER_LEN:] != expected_body(crc, version, length - HEADER_LEN):
        return Verdict.CORRUPT_BODY, version
    if flags is not None and flags != flags_for(version):
        return Verdict.BAD_FLAGS, version
    return Verdict.OK, version


def first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first differing byte (for reports), len of the shorter if one is a prefix."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


class KeyLedger:
    """Which versions each key of one worker may still return (see the module docstring)."""

    def __init__(self, slots: int):
        self.floor = [0] * slots          # reads sent now must see >= this, or miss
        self.inflight = [0] * slots       # writes sent and not yet answered
        self.group_min = [0] * slots      # lowest version of the open group
        self.group_failed = bytearray(slots)  # a write of the open group failed
        self.next_version = 1             # the header keeps 32 bits; no run gets that far

    def begin_write(self, slot: int) -> int:
        version = self.next_version
        self.next_version += 1
        if self.inflight[slot] == 0:
            self.group_min[slot] = version
            self.group_failed[slot] = 0
        self.inflight[slot] += 1
        return version

    def end_write(self, slot: int, applied: bool) -> None:
        self.inflight[slot] -= 1
        if not applied:
            self.group_failed[slot] = 1
        if self.inflight[slot] == 0 and not self.group_failed[slot]:
            self.floor[slot] = self.group_min[slot]

    def read_floor(self, slot: int) -> int:
        return self.floor[slot]

    def judge(self, floor_at_send: int, version: int) -> Verdict:
        """Verdict on a well-formed value of `version` read with `floor_at_send`."""
        if version >= self.next_version or version == 0:
            return Verdict.UNKNOWN_VERSION
        if version < floor_at_send:
            return Verdict.STALE
        return Verdict.OK
