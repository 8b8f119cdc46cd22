"""Meta protocol handlers: mg ms md ma mn me over the cache (memcached 1.6.18 proto_text.c).

Each handler mirrors its `process_m*_command`: the flag tokens are walked in request order,
so return flags come back in that order and `T`/`N` take effect where they stand (`T300 t`
reports the new TTL). Pins, stats and eviction follow the classic handlers in commands.py;
like them, every function here is synchronous (never awaits), which makes it atomic.
"""

from __future__ import annotations

import base64
from allocator import NIL, ItemTooLarge, OutOfMemory
from allocator.item import ITEM_FETCHED, ITEM_KEY_BINARY, ITEM_STALE, ITEM_TOKEN_SENT

from .errors import ClientError, ServerError
from . import watch
from .meta import (MetaArith, MetaDebug, MetaDelete, MetaGet, MetaNoop, MetaSet,
                   echo_opaque_key, encode_key, opaque, server_flags)
from .outcome import Outcome
from .replies import BAD_DATA_CHUNK, CRLF, EN, META_STORE_CODES, MN
from .session import Session

U32 = 0xFFFFFFFF


def _ttl(exptime: int, now: int) -> bytes:
    """`t` and friends: -1 for no expiry, else the seconds left (memcached's u32 arithmetic)."""
    return b"-1" if exptime == 0 else b"%d" % ((exptime - now) & U32)


# ---- mg -------------------------------------------------------------------------------------
def handle_mg(session: Session, req: MetaGet, out: list) -> None:
    """mg <key> <flags>*: HD/VA with the requested flags, or EN."""
    cache = session.cache
    store, stats = cache.store, cache.stats
    now = cache.clock.current
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    off = store.get(req.key, now, bump=False)
    created = False
    if off == NIL and req.vivify is not None:
        off = _vivify_empty(store, req.key, now)
        created = off != NIL
    if off == NIL:
        _mg_miss(session, req, out)
        return
    head, ttl_set = _mg_hit_line(session, req, off, created, now)
    out.append(head)
    if req.value:                       # arena views: pinned until handed to the transport
        out.extend(store.value_views(off))
        session.pins.add(off)
    if not req.no_update:               # memcached bumps after reading h/l (do_item_bump)
        store.set_it_flags(off, ITEM_FETCHED)
        store.bump(off, now)
    counters = store.slab_counters[store.class_of(off)]
    if ttl_set:
        stats.cmd_touch += 1
        stats.touch_hits += 1
        counters.touch_hits += 1
    else:
        stats.cmd_get += 1
        stats.get_hits += 1
        counters.get_hits += 1


def _mg_miss(session: Session, req: MetaGet, out: list) -> None:
    stats = session.cache.stats
    stats.cmd_get += 1                  # a miss counts as a get even with T (memcached)
    stats.get_misses += 1
    line = b"EN" + echo_opaque_key(req.flags, req.key, req.key_binary) + CRLF
    if not req.quiet:
        out.append(line)


def _vivify_empty(store, key: bytes, now: int) -> int:
    """mg N on a miss: link an empty item (flags 0, no TTL yet); NIL if memory is short."""
    try:
        off = store.reserve(key, 0, 0, 0, now)
    except (ItemTooLarge, OutOfMemory):
        return NIL
    store.write_value(off, b"")
    store.link(off, key)
    return off


def _mg_hit_line(session: Session, req: MetaGet, off: int, created: bool,
                 now: int) -> tuple[bytes, bool]:
    """The status line of a hit, applying T/N where they stand; (line, T was applied)."""
    store, clock = session.cache.store, session.cache.clock
    it_flags = store.it_flags(off)
    nbytes = store.nbytes_of(off)
    atime, exptime = store.times_of(off)
    parts = [b"VA %d" % nbytes if req.value else b"HD"]
    won = ttl_set = False
    for tok in req.flags:
        o = tok[0]
        if o == 84:                                     # T
            exptime = clock.realtime(req.exptime)
            store.set_exptime(off, exptime)
            ttl_set = True
        elif o == 78:                                   # N
            if created:
                exptime = clock.realtime(req.vivify)
                store.set_exptime(off, exptime)
                won = True
        elif o == 82:                                   # R
            if (not it_flags & ITEM_TOKEN_SENT and not created and exptime != 0
                    and exptime < clock.realtime(req.recache)):
                won = True
        elif o == 115:                                  # s
            parts.append(b" s%d" % nbytes)
        elif o == 116:                                  # t
            parts.append(b" t" + _ttl(exptime, now))
        elif o == 99:                                   # c
            parts.append(b" c%d" % store.cas_of(off))
        elif o == 102:                                  # f
            parts.append(b" f%d" % store.flags_of(off))
        elif o == 108:                                  # l
            parts.append(b" l%d" % ((now - atime) & U32))
        elif o == 104:                                  # h
            parts.append(b" h1" if it_flags & ITEM_FETCHED else b" h0")
        elif o == 79:                                   # O
            parts.append(opaque(tok))
        elif o == 107:                                  # k
            parts.append(encode_key(req.key, bool(it_flags & ITEM_KEY_BINARY)))
    token_sent = bool(it_flags & ITEM_TOKEN_SENT)
    stale = bool(it_flags & ITEM_STALE)
    won = won or (stale and not token_sent)
    parts.append(server_flags(token_sent, stale, won))
    if won:
        store.set_it_flags(off, ITEM_TOKEN_SENT)
    parts.append(CRLF)
    return b"".join(parts), ttl_set


# ---- ms -------------------------------------------------------------------------------------
def handle_ms(session: Session, req: MetaSet, out: list) -> None:
    """ms header: reserve a chunk and route the data block into it, or swallow it on error."""
    cache = session.cache
    if req.error is not None:
        session.refuse_value(ClientError(req.error).reply)
        return
    try:    # mode "set": a refused ms removes the key's old value whatever its mode (memcached)
        off = cache.reserve(b"set", req.key, req.client_flags, req.exptime, req.nbytes)
    except ServerError as exc:
        session.refuse_value(exc.reply)
        return
    if req.key_binary:
        cache.store.set_it_flags(off, ITEM_KEY_BINARY)
    session.receive_value(req, off, complete_ms)


def complete_ms(session: Session, header: MetaSet, off: int, valid: bool, out: list) -> None:
    """The data block of an ms is in the chunk: store it per the mode, then HD/NS/EX/NF."""
    cache = session.cache
    if not valid:
        cache.abort_store(off)
        out.append(BAD_DATA_CHUNK)                         # even with q
        return
    reply = _store_stale(session, header, off)
    if reply is None and session.daemon.watchers:
        reply = watch.logged_store(session, header.mode, header.key, off, header.cas)
    elif reply is None:
        reply = cache.complete_store(header.mode, header.key, off, header.cas)
    if reply is Outcome.STORED and header.quiet:
        return
    cas = cache.store.cas_of(cache.store.index[header.key]) if reply is Outcome.STORED else 0
    out.append(META_STORE_CODES[reply] + _ms_flags(header, cas) + CRLF)


def _store_stale(session: Session, header: MetaSet, off: int) -> Outcome | None:
    """ms I with C lower than the item's CAS: store anyway, marked stale (memcached CAS_STALE).

    The new value keeps the old TTL and win-token state. None when this rule does not apply.
    """
    if not header.set_stale or not header.cas:
        return None
    cache = session.cache
    store = cache.store
    old = store.get(header.key, cache.clock.current, bump=False)
    if old == NIL or header.cas >= store.cas_of(old):
        return None
    cache.stats.cmd_set += 1
    store.slab_counters[store.class_of(off)].cmd_set += 1
    store.set_exptime(off, store.times_of(old)[1])
    store.set_it_flags(off, ITEM_STALE | (store.it_flags(old) & ITEM_TOKEN_SENT))
    cache.stats.cas_hits += 1
    store.slab_counters[store.class_of(old)].cas_hits += 1
    store.link(off, header.key)
    return Outcome.STORED


def _ms_flags(header: MetaSet, cas: int) -> bytes:
    """ms return flags O, k, c in request order (memcached's _finalize_mset)."""
    parts = []
    for tok in header.flags:
        o = tok[0]
        if o == 79:                                     # O (length checked by the parser)
            parts.append(b" " + tok)
        elif o == 107:                                  # k
            parts.append(encode_key(header.key, header.key_binary))
        elif o == 99:                                   # c
            parts.append(b" c%d" % cas)
    return b"".join(parts)


# ---- md -------------------------------------------------------------------------------------
def handle_md(session: Session, req: MetaDelete, out: list) -> None:
    """md <key> <flags>*: delete, or with I mark stale; HD/NF/EX."""
    cache = session.cache
    store, stats = cache.store, cache.stats
    echo = echo_opaque_key(req.flags, req.key, req.key_binary)     # errors before any effect
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    off = store.get(req.key, cache.clock.current, bump=False)
    if off == NIL:
        stats.delete_misses += 1
        code = b"NF"
    elif req.cas is not None and store.cas_of(off) != req.cas:
        stats.delete_misses += 1
        code = b"EX"
    elif req.set_stale:
        _invalidate(session, req, off)
        code = b"HD"
    else:
        cache.delete(req.key)
        code = b"HD"
    if code == b"HD" and req.quiet:
        return
    out.append(code + echo + CRLF)


def _invalidate(session: Session, req: MetaDelete, off: int) -> None:
    """md I: keep the item but mark it stale, with a new CAS, so the next reader wins."""
    store = session.cache.store
    if req.exptime is not None:
        store.set_exptime(off, session.cache.clock.realtime(req.exptime))
    store.set_it_flags(off, ITEM_STALE, ITEM_TOKEN_SENT)
    store.new_cas(off)


# ---- ma -------------------------------------------------------------------------------------
def handle_ma(session: Session, req: MetaArith, out: list) -> None:
    """ma <key> <flags>*: incr/decr (or create with N); HD/VA, NF, EX."""
    cache = session.cache
    store = cache.store
    if session.daemon.watchers:
        watch.fetched(session, [req.key])
    off = store.get(req.key, cache.clock.current, bump=False)
    created = False
    if off == NIL:
        if req.vivify is None:
            _ma_miss(session, req, b"NF", out)
            return
        value, item = req.initial, _vivify_number(session, req)
        created = in_place = True
    else:
        if req.cas and _cas_mismatch(store, off, req.cas):
            _ma_miss(session, req, b"EX", out)
            return
        value = cache.arith(req.key, req.incr, req.delta)
        item = store.index[req.key]
        in_place = item == off      # else memcached's T lands on the replaced old item
    line = _ma_line(session, req, item, value, created, in_place)
    if req.quiet and not created:
        return
    out.append(line)


def _cas_mismatch(store, off: int, cas: int) -> bool:
    """do_add_delta's order: an empty or chunked value is non-numeric before any CAS check."""
    if store.nbytes_of(off) == 0 or store.is_chunked(off):
        raise ClientError("cannot increment or decrement non-numeric value")
    return store.cas_of(off) != cas


def _ma_miss(session: Session, req: MetaArith, code: bytes, out: list) -> None:
    stats = session.cache.stats
    if code == b"NF":
        if req.incr:
            stats.incr_misses += 1
        else:
            stats.decr_misses += 1
    out.append(code + echo_opaque_key(req.flags, req.key, req.key_binary) + CRLF)


def _vivify_number(session: Session, req: MetaArith) -> int:
    """ma N on a miss: store J (default 0) as a new item; the delta is not applied."""
    store = session.cache.store
    text = b"%d" % req.initial
    try:
        off = store.reserve(req.key, 0, 0, len(text), session.cache.clock.current)
    except (ItemTooLarge, OutOfMemory):
        raise ServerError("Out of memory allocating new item") from None
    store.write_value(off, text)
    store.link(off, req.key)
    return off


def _ma_line(session: Session, req: MetaArith, item: int, value: int, created: bool,
             in_place: bool) -> bytes:
    """HD/VA with c t O k in request order; T/N set the TTL where they stand."""
    store, clock = session.cache.store, session.cache.clock
    now = clock.current
    text = b"%d" % value
    exptime = store.times_of(item)[1]
    parts = [b"VA %d" % len(text) if req.value else b"HD"]
    for tok in req.flags:
        o = tok[0]
        if o == 99:                                     # c
            parts.append(b" c%d" % store.cas_of(item))
        elif o == 116:                                  # t
            parts.append(b" t" + _ttl(exptime, now))
        elif o == 84 or (o == 78 and created):          # T, or N on the created item
            exptime = clock.realtime(req.exptime if o == 84 else req.vivify)
            if in_place:
                store.set_exptime(item, exptime)
        elif o == 79:                                   # O
            parts.append(opaque(tok))
        elif o == 107:                                  # k
            parts.append(encode_key(req.key, req.key_binary))
    parts.append(CRLF)
    if req.value:
        parts.append(text + CRLF)
    return b"".join(parts)


# ---- me, mn ---------------------------------------------------------------------------------
def handle_me(session: Session, req: MetaDebug, out: list) -> None:
    """me <key> [b]: one line of item internals, without bumping it; counts cmd_meta."""
    cache = session.cache
    store = cache.store
    now = cache.clock.current
    off = store.get(req.key, now, bump=False)
    cache.stats.cmd_meta += 1
    if off == NIL:
        out.append(EN)
        return
    key = req.key
    if store.it_flags(off) & ITEM_KEY_BINARY:
        key = base64.b64encode(key)
    atime, exptime = store.times_of(off)
    exp = -1 if exptime == 0 else exptime - now    # remaining seconds (1.6.18 prints -that)
    fetched = b"yes" if store.it_flags(off) & ITEM_FETCHED else b"no"
    out.append(b"ME %s exp=%d la=%d cas=%d fetch=%s cls=%d size=%d\r\n" % (
        key, exp, (now - atime) & U32, store.cas_of(off), fetched, store.class_of(off),
        store.item_total(off)))


def handle_mn(session: Session, req: MetaNoop, out: list) -> None:
    """mn: MN, the end marker of a batch of quiet commands."""
    out.append(MN)


HANDLERS = {MetaGet: handle_mg, MetaSet: handle_ms, MetaDelete: handle_md,
            MetaArith: handle_ma, MetaDebug: handle_me, MetaNoop: handle_mn}
