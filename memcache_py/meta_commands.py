"""Meta protocol handlers: mg ms md ma mn me over the cache (issue #6)."""

from __future__ import annotations

from .meta import MetaNoop


def handle_noop(session, req: MetaNoop, out: list) -> None:
    out.append(b"MN\r\n")


HANDLERS = {MetaNoop: handle_noop}
COMPLETERS: dict = {}
