"""memcached's number parsing: C `strtoul`/`strtol`/`strtoull` as its safe_* wrappers use them.

Python's int() accepts underscores and surrounding whitespace in places C does not, and C's
wrap-arounds are part of the observable protocol (`<bytes>` of 4294967297 is 1; flags of
2^32 store 0), so these mirror util.c exactly rather than approximate it. Sans-IO.
"""

from __future__ import annotations

_C_SPACE = b" \t\n\v\f\r"
_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1


def _strto(tok: bytes) -> tuple[int, bool, bool] | None:
    """Parse like strtoull/strtol: (magnitude, negative, overflow64) or None if invalid.

    Valid means: optional leading whitespace, an optional sign, at least one digit, then the
    end of the token or a whitespace byte (memcached's `xisspace(*endptr)` rule).
    """
    if tok.isdigit():
        v = int(tok)
        return v, False, v >= _U64
    s = tok.lstrip(_C_SPACE)
    neg = False
    if s[:1] in (b"+", b"-"):
        neg = s[:1] == b"-"
        s = s[1:]
    n = 0
    while n < len(s) and 48 <= s[n] <= 57:
        n += 1
    if n == 0 or (n < len(s) and s[n] not in _C_SPACE):
        return None
    v = int(s[:n])
    return v, neg, v >= _U64


def safe_strtoull(tok: bytes) -> int | None:
    """uint64, or None. A '-' is refused only when the result would look negative (as in C)."""
    r = _strto(tok)
    if r is None or r[2]:
        return None
    v, neg, _ = r
    if neg:
        v = (-v) % _U64
        if v >= 1 << 63:
            return None
    return v


def safe_strtoul(tok: bytes) -> int | None:
    """`safe_strtoul` into a uint32_t: C's unsigned long result, truncated to 32 bits."""
    v = safe_strtoull(tok)
    return None if v is None else v & 0xFFFFFFFF


def safe_strtol(tok: bytes) -> int | None:
    """`safe_strtol` into an int32_t: C long (ERANGE past 64 bits), wrapped to 32 bits."""
    r = _strto(tok)
    if r is None:
        return None
    v, neg, _ = r
    v = -v if neg else v
    if v > _I64_MAX or v < -_I64_MAX - 1:
        return None
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v
