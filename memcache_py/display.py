"""Replies made readable for a person: what `memcache-cli` prints (no sockets here).

A reply arrives as `Reply` parts: plain lines, and VALUE / VA lines with their data block.
VALUE blocks become one table (key, flags, bytes, cas, value), values are shown as text when
they are printable UTF-8 and escaped (\\n, \\x00, ...) otherwise; `stats` replies become aligned
name/value tables, and the per-class ones (`stats slabs`, `stats items`) a table with a column
per slab class. Error lines are printed as they came: the exit status tells scripts about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ERROR_PREFIXES = ("ERROR", "CLIENT_ERROR", "SERVER_ERROR")
_CLASS_STAT = re.compile(r"^(?:items:)?(\d+):(\w+)$")   # "1:chunk_size", "items:1:number"


@dataclass(frozen=True)
class Line:
    """One reply line, without its \\r\\n."""
    text: str


@dataclass(frozen=True)
class Value:
    """A `VALUE <key> <flags> <bytes> [<cas>]` line or a meta `VA <bytes> <flags>*`, and data."""
    header: str
    data: bytes


Part = Line | Value


def is_error(line: str) -> bool:
    return line.split(" ", 1)[0] in ERROR_PREFIXES


def escape(data: bytes) -> str:
    """The value as text when it is printable UTF-8, else with backslash escapes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable():
        return text
    out = []
    for ch in (text if text is not None else data.decode("latin-1")):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif text is None and code > 0x7E or code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def table(rows: list[list[str]], header: list[str] | None = None) -> list[str]:
    """Columns padded to their widest cell; the last column is not padded."""
    allrows = ([header] if header else []) + rows
    if not allrows:
        return []
    widths = [max(len(r[i]) for r in allrows if i < len(r)) for i in range(len(allrows[0]))]
    return ["  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell
                      for i, cell in enumerate(row)).rstrip() for row in allrows]


def render(parts: list[Part]) -> list[str]:
    """The lines to print for one command's reply."""
    values = [p for p in parts if isinstance(p, Value) and p.header.startswith("VALUE ")]
    stats = [p.text for p in parts if isinstance(p, Line) and p.text.startswith("STAT ")]
    if values:
        return _values(parts)
    if stats:
        rest = [p.text for p in parts if isinstance(p, Line) and not p.text.startswith("STAT ")
                and p.text != "END"]
        return _stats(stats) + rest
    out = []
    for part in parts:
        if isinstance(part, Value):
            out.append(part.header)
            out.append("  " + escape(part.data))
        else:
            out.append(part.text)
    return out


def _values(parts: list[Part]) -> list[str]:
    rows, has_cas, rest = [], False, []
    for part in parts:
        if isinstance(part, Value):
            fields = part.header.split()
            key, flags, nbytes = fields[1], fields[2], fields[3]
            cas = fields[4] if len(fields) > 4 else ""
            has_cas = has_cas or bool(cas)
            rows.append([key, flags, nbytes, cas, escape(part.data)])
        elif part.text != "END":
            rest.append(part.text)
    header = ["key", "flags", "bytes", "cas", "value"]
    if not has_cas:
        header.pop(3)
        rows = [r[:3] + r[4:] for r in rows]
    return table(rows, header) + rest


def _stats(lines: list[str]) -> list[str]:
    """STAT lines: per-class ones pivoted to a column per class, the others name/value."""
    plain: list[list[str]] = []
    per_class: dict[str, dict[str, str]] = {}
    for line in lines:
        _, name, value = (line.split(" ", 2) + [""])[:3]
        m = _CLASS_STAT.match(name)
        if m:
            per_class.setdefault(m.group(2), {})[m.group(1)] = value
        else:
            plain.append([name, value])
    out: list[str] = []
    if per_class:
        ids = sorted({i for by_id in per_class.values() for i in by_id}, key=int)
        rows = [[name] + [by_id.get(i, "") for i in ids] for name, by_id in per_class.items()]
        out += table(rows, ["class"] + ids)
    if plain:
        if out:
            out.append("")
        out += table(plain)
    return out
