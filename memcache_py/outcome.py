"""Outcome: what a cache operation did, in the cache's words rather than the wire's.

The cache answers with these; `replies.py` owns how each is spelled in the classic protocol
(`STORED\\r\\n`) and in the meta protocol (`HD`). Sans-IO, imports nothing.
"""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    """The result of a storage command (memcached's `store_item_type`)."""

    STORED = "stored"           # linked (set, add of a new key, replace, append, cas match)
    NOT_STORED = "not_stored"   # add of an existing key, replace/append of a missing one
    EXISTS = "exists"           # cas (or a CAS-checked command) saw another CAS id
    NOT_FOUND = "not_found"     # cas of a missing key

    # Members are singletons: hash by identity, in C. Enum's own __hash__ is Python code
    # (hash of the name), and replies.py looks an Outcome up on every store.
    __hash__ = object.__hash__
