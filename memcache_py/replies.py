"""Every fixed reply line of the classic and meta protocols, and the VALUE header (sans-IO).

One home for the bytes: handlers append these names, never literals, so a reply is spelled
once. `STORE_REPLIES` / `META_STORE_CODES` are the two encodings of an `Outcome`. The VALUE
line of a get is built from an item by values.py.
No asyncio, socket, numpy or allocator import here.
"""

from __future__ import annotations

from .outcome import Outcome

CRLF = b"\r\n"
END = b"END\r\n"
OK = b"OK\r\n"
RESET = b"RESET\r\n"
DELETED = b"DELETED\r\n"
NOT_FOUND = b"NOT_FOUND\r\n"
TOUCHED = b"TOUCHED\r\n"
MN = b"MN\r\n"
EN = b"EN\r\n"
BAD_DATA_CHUNK = b"CLIENT_ERROR bad data chunk\r\n"
INTERNAL_ERROR = b"SERVER_ERROR internal error\r\n"   # our bug, never the client's input

# classic: storage commands
STORE_REPLIES = {
    Outcome.STORED: b"STORED\r\n",
    Outcome.NOT_STORED: b"NOT_STORED\r\n",
    Outcome.EXISTS: b"EXISTS\r\n",
    Outcome.NOT_FOUND: NOT_FOUND,
}

# meta: ms/md/ma status codes
META_STORE_CODES = {
    Outcome.STORED: b"HD",
    Outcome.NOT_STORED: b"NS",
    Outcome.EXISTS: b"EX",
    Outcome.NOT_FOUND: b"NF",
}


def number(value: int) -> bytes:
    """incr/decr's reply: the new value."""
    return b"%d\r\n" % value
