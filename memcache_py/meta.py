"""Meta protocol requests (mg ms md ma mn me): parsing and reply encoding (sans-IO).

Placeholder holding only `mn` until the meta protocol lands (issue #6): every other m* verb
gets memcached's `ERROR` through the parser's unknown-command path.
"""

from __future__ import annotations

from typing import NamedTuple


class MetaNoop(NamedTuple):
    """mn"""


def parse_mn(tokens: list[bytes]) -> MetaNoop:
    """mn"""
    return MetaNoop()


META_PARSERS = {b"mn": parse_mn}
META_DATA_HEADERS: set[type] = set()      # ms headers: a data block follows
