"""The `watch` command's request and its parser (sans-IO), registered in parser.PARSERS.

watch [rawcmds|evictions|fetchers|mutations|sysevents|connevents|proxyreqs|proxyevents|
       proxyuser]*
The flags are logger.h's LOG_* bits; watch.py turns the connection into a log stream.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import UnknownCommand

LOG_SYSEVENTS, LOG_FETCHERS, LOG_MUTATIONS = 1 << 1, 1 << 2, 1 << 3
LOG_CONNEVENTS, LOG_EVICTIONS, LOG_RAWCMDS = 1 << 5, 1 << 6, 1 << 9
LOG_PROXYREQS, LOG_PROXYEVENTS, LOG_PROXYUSER = 1 << 10, 1 << 11, 1 << 12
WATCH_FLAGS = {b"rawcmds": LOG_RAWCMDS, b"evictions": LOG_EVICTIONS,
               b"fetchers": LOG_FETCHERS, b"mutations": LOG_MUTATIONS,
               b"sysevents": LOG_SYSEVENTS, b"connevents": LOG_CONNEVENTS,
               b"proxyreqs": LOG_PROXYREQS, b"proxyevents": LOG_PROXYEVENTS,
               b"proxyuser": LOG_PROXYUSER}


class Watch(NamedTuple):
    flags: int              # LOG_* bits; fetchers when none were named


def parse_watch(tokens: list[bytes]) -> Watch:
    """watch [<event kind>]*

    An unknown word is ERROR, and `noreply` is one (so `watch noreply` answers nothing and
    does not watch), as memcached's loop meets it before it could mean anything.
    """
    noreply = tokens[-1] == b"noreply"
    flags = 0
    for word in tokens[1:]:
        flag = WATCH_FLAGS.get(word)
        if flag is None:
            raise UnknownCommand(noreply=noreply)
        flags |= flag
    return Watch(flags or LOG_FETCHERS)


WATCH_PARSERS = {b"watch": parse_watch}
