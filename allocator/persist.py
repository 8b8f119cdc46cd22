"""Persist: an ItemStore's state saved beside its memory file, and the store rebuilt from it.

The items themselves never move: with `-e` the arena is a shared mapping of the memory file
(arena.py), and every header word, LRU link and free-list link is an arena offset, so there is
no pointer fix-up to do (memcached's restart_fixup). What lives outside the arena is small and
is handed to the caller as text (`snapshot`) to go into FILE.meta: the page owners, each
class's never-cut page tail, the LRU heads/tails/counts, the chained items' further chunks, the
CAS counter and the flush watermark.

`restore` trusts none of it blindly. It rebuilds the store with whole-array numpy passes over
each class's chunk grid (a per-item Python loop over 4.9 million items takes seconds): every
chunk flagged linked is checked (class, key length, sizes against the class, the value's CRLF,
CAS below the saved counter, chain length) and its LRU links must point at valid items of its
class and back; a class whose list does not check out is re-walked from its saved head and
tail and whatever cannot be reached is dropped. Invalid items are dropped and counted, never
indexed. Every chunk that is not a valid item (a half-received upload at the stop, a damaged
header) goes back on its class's free list, and the free lists are rebuilt, not trusted.
The key index is rebuilt too (its slots hold Python's per-process `hash()`), vectorised: keys
come out as fixed-width rows per key length, and linear probing is resolved in rounds.
"""

from __future__ import annotations

import base64
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from .index import EMPTY, HASH_MASK, MAX_FILL, MIN_CAPACITY
from .item import (CAS, FLAGS, FREE_FLAG_WORD, ITEM_CHUNKED, ITEM_FREE, ITEM_LINKED, NEXT, NIL,
                   NKEY_MASK, NKEY_SHIFT, PREV, SIZES)

LAYOUT_VERSION = 1          # bump whenever the item layout or this state changes meaning
KEY_MAX_LENGTH = 250        # memcached's KEY_MAX_LENGTH: no stored key is longer


class PersistError(Exception):
    """The saved state cannot be used at all (the caller starts cold); `str()` says why."""


@dataclass
class RestoreReport:
    """What a restore found: items kept per class, pages per class, and what was dropped."""

    items: dict[int, int] = field(default_factory=dict)     # class id -> items restored
    pages: dict[int, int] = field(default_factory=dict)     # class id -> pages owned
    pool_pages: int = 0                                     # arena pages no class owns yet
    dropped: int = 0                                        # linked-looking chunks not restored
    problems: list[str] = field(default_factory=list)       # what was wrong, first found first
    timings: list[tuple[str, float]] = field(default_factory=list)  # phase, seconds (-vv)

    @property
    def total_items(self) -> int:
        return sum(self.items.values())

    def problem(self, text: str) -> None:
        if len(self.problems) < 100:
            self.problems.append(text)


def _pack(a: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a, np.int64).tobytes(), 1)).decode()


def _unpack(text: str, name: str) -> np.ndarray:
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
    except (ValueError, zlib.error) as exc:
        raise PersistError(f"bad {name}: {exc}") from None
    if len(raw) % 8:
        raise PersistError(f"bad {name}: length {len(raw)}")
    return np.frombuffer(raw, dtype=np.int64)


def snapshot(store) -> dict[str, str]:
    """The allocator state outside the arena, as `key -> value` text without spaces.

    Call with nothing in flight (the daemon stopped reading): unlinked chunks are not
    described and become free at the next start.
    """
    slabs, lru, arena = store.slabs, store.lru, store.arena
    n = len(slabs.classes)
    chains = []
    for head, extra in store.chains.items():
        chains += [head, len(extra), *extra]
    return {
        "layout_version": str(LAYOUT_VERSION),
        "header_size": str(store.header_size),
        "capacity_pages": str(arena.capacity_pages),
        "pages_used": str(arena.pages_used),
        "malloced": str(arena.malloced),
        "cas_id": str(store.cas_id),
        "oldest_live": str(store.liveness.oldest_live),
        "oldest_cas": str(store.liveness.oldest_cas),
        "get_expired": str(store.get_expired),
        "get_flushed": str(store.get_flushed),
        "page_class": _pack(np.array(slabs.page_class[:arena.pages_used], np.int64)),
        "class_ends": _pack(np.array([[s.end_offset, s.end_left] for s in slabs.classes],
                                     np.int64)),
        "lru": _pack(np.array([lru.heads[:n], lru.tails[:n], lru.sizes[:n]], np.int64)),
        "chains": _pack(np.array(chains, np.int64)),
        "page_crc": _pack(page_crcs(arena, arena.pages_used)),
    }


def page_crcs(arena, pages: int) -> np.ndarray:
    """CRC-32 of each used page: a flipped bit anywhere in a page (a value byte, the flags,
    the CAS) drops that page's items instead of serving them (0.3 s per GB here)."""
    mv, size = arena.bytes, arena.page_size
    return np.array([zlib.crc32(mv[i * size:(i + 1) * size]) for i in range(pages)], np.int64)


def _int(state: dict[str, str], key: str, lo: int = 0, hi: int = 2**62) -> int:
    try:
        v = int(state[key])
    except KeyError:
        raise PersistError(f"missing {key}") from None
    except ValueError:
        raise PersistError(f"bad {key}: {state[key][:40]!r}") from None
    if not lo <= v <= hi:
        raise PersistError(f"{key} {v} out of range")
    return v


def restore(store, state: dict[str, str]) -> RestoreReport:
    """Rebuild a freshly built store (its arena mapped over the old file, not wiped).

    Raises PersistError when the state as a whole is unusable; the store is then half
    rebuilt and must be thrown away (the caller builds a wiped one).
    """
    rep = RestoreReport()
    arena, slabs, lru = store.arena, store.slabs, store.lru
    if _int(state, "layout_version") != LAYOUT_VERSION:
        raise PersistError(f"layout version {state['layout_version']} != {LAYOUT_VERSION}")
    if _int(state, "header_size") != store.header_size:
        raise PersistError("header size differs")
    if _int(state, "capacity_pages") != arena.capacity_pages:
        raise PersistError("arena capacity differs")
    pages_used = _int(state, "pages_used", 0, arena.capacity_pages)
    cas_id = _int(state, "cas_id")
    page_class = _unpack(state.get("page_class", ""), "page_class")
    ends = _unpack(state.get("class_ends", ""), "class_ends")
    lru_state = _unpack(state.get("lru", ""), "lru")
    chains_flat = _unpack(state.get("chains", ""), "chains")
    crcs = _unpack(state.get("page_crc", ""), "page_crc")
    ncls = len(slabs.classes)                  # class ids 1..ncls-1 (0 unused)
    if len(page_class) != pages_used:
        raise PersistError("page_class length != pages_used")
    if pages_used and (page_class.min() < 0 or page_class.max() >= ncls):
        raise PersistError("page owned by an unknown class")  # 0: the mover's page pool
    if len(crcs) != pages_used:
        raise PersistError("page_crc length != pages_used")
    if len(ends) != 2 * ncls or len(lru_state) != 3 * ncls:
        raise PersistError("class count differs")
    ends = ends.reshape(ncls, 2)
    heads, tails, sizes_saved = lru_state.reshape(3, ncls)

    page_size, shift = arena.page_size, slabs.page_shift
    words = arena.buffer.view(np.int64)
    buf = arena.buffer
    hdr = store.header_size
    largest = ncls - 1
    chunk_max = store.classes.slab_chunk_max
    chunk_sizes = np.array([s.chunk_size for s in slabs.classes[1:]], np.int64)

    _lap(rep, "page CRCs")
    # ---- pages whose bytes changed since the stop: none of their items is trusted -------
    damaged = np.flatnonzero(page_crcs(arena, pages_used) != crcs)
    if len(damaged):
        rep.problem(f"{len(damaged)} page(s) changed since the stop (CRC), first page "
                    f"{int(damaged[0])}")
    bad_page = np.zeros(max(pages_used, 1), bool)
    bad_page[damaged] = True

    _lap(rep, "pages")
    # ---- pages, and each class's chunk grid (chunks ever cut) ---------------------------
    grids: list[np.ndarray] = [np.empty(0, np.int64)]
    for cid in range(1, ncls):
        s = slabs.classes[cid]
        pages = np.flatnonzero(page_class == cid).astype(np.int64)
        rep.pages[cid] = len(pages)
        end_offset, end_left = int(ends[cid, 0]), int(ends[cid, 1])
        if len(pages) == 0 or not 0 <= end_left < s.perslab:
            if end_left:
                raise PersistError(f"class {cid}: bad page tail")
            end_offset = 0
        grid = (pages[:, None] * page_size
                + np.arange(s.perslab, dtype=np.int64)[None, :] * s.chunk_size)
        if end_left:
            last = end_offset >> shift
            cut = s.perslab - end_left
            if (last >= pages_used or page_class[last] != cid
                    or end_offset != (last << shift) + cut * s.chunk_size):
                raise PersistError(f"class {cid}: page tail not in its own page")
            row = int(np.searchsorted(pages, last))
            keep = np.ones(grid.shape, bool)
            keep[row, cut:] = False
            grid = grid[keep]
        grids.append(grid.ravel())
        s.pages = (pages * page_size).tolist()      # oldest first: by offset after a restart
        s.end_offset, s.end_left = end_offset, end_left
    # a handed-out page owned by no class is in the mover's global page pool (class 0); it
    # still counts against -m, as memcached's mem_malloced does
    malloced = sum(slabs.classes[int(c)].page_bytes if c else page_size for c in page_class)
    arena.pages_used, arena.malloced = pages_used, malloced
    slabs.page_class[:pages_used] = page_class.tolist()
    slabs.pool = [int(n) * page_size for n in np.flatnonzero(page_class == 0)]
    rep.pool_pages = arena.capacity_pages - pages_used

    _lap(rep, "chains")
    # ---- chained items' further chunks ---------------------------------------------------
    chains: dict[int, list[int]] = {}
    members: set[int] = set()
    listed: set[int] = set()
    big_grid = set(grids[largest].tolist()) if len(chains_flat) else set()
    i, flat = 0, chains_flat.tolist()
    while i < len(flat):
        if i + 1 >= len(flat) or flat[i + 1] < 0 or i + 2 + flat[i + 1] > len(flat):
            raise PersistError("chains truncated")
        head, extra = flat[i], flat[i + 2:i + 2 + flat[i + 1]]
        i += 2 + len(extra)
        listed.update(extra)        # value bytes, never headers, even if the chain is refused
        group = [head, *extra]
        if (any(c not in big_grid or c in members or bad_page[c >> shift] for c in group)
                or head in chains or len(set(group)) != len(group)):
            rep.problem(f"chain of {head}: chunk outside its class or reused")
            continue
        chains[head] = extra
        members.update(extra)

    _lap(rep, "linked items")
    # ---- linked items: header checks, whole arrays per class ------------------------------
    valid_parts, cid_parts, nkey_parts, ntotal_parts = [], [], [], []
    free_parts: list[list[np.ndarray]] = [[] for _ in range(ncls)]
    for cid in range(1, ncls):
        grid = grids[cid]
        if cid == largest and listed:
            grid = grid[~np.isin(grid, np.fromiter(listed, np.int64, len(listed)))]
        w = grid >> 3
        sz = words[w + SIZES]
        cand = (sz & ITEM_LINKED) != 0
        ok = cand & ((sz & ITEM_FREE) == 0) & ~bad_page[grid >> shift]
        nkey = (sz >> NKEY_SHIFT) & NKEY_MASK
        nbytes = sz & 0xFFFFFFFF
        flags = words[w + FLAGS]
        ok &= (nkey >= 1) & (nkey <= KEY_MAX_LENGTH) & (flags >= 0) & (flags <= 0xFFFFFFFF)
        ntotal = hdr + nkey + 3 + nbytes + np.where(flags != 0, 4, 0)
        chunked = (sz & ITEM_CHUNKED) != 0
        ok &= ntotal <= store.item_size_max
        if store.cas_enabled:
            cas = words[w + CAS]
            ok &= (cas > 0) & (cas <= cas_id)
        plain = ok & ~chunked
        # an unchained item lands in exactly this class, and its value ends in CRLF
        home = np.searchsorted(chunk_sizes, ntotal, side="left") + 1
        plain &= home == cid
        end = grid + hdr + nkey + nbytes
        safe = plain & (end + 1 < len(buf))
        crlf = np.zeros(len(grid), bool)
        crlf[safe] = (buf[end[safe]] == 13) & (buf[end[safe] + 1] == 10)
        plain &= crlf
        if cid == largest:
            want = -(-(hdr + nkey + nbytes + 2) // chunk_max) - 1
            big = ok & chunked & (ntotal > chunk_max)
            for j in np.flatnonzero(big).tolist():
                extra = chains.get(int(grid[j]))
                if extra is None or len(extra) != want[j]:
                    big[j] = False
            ok = plain | big
        else:
            ok = plain
        bad = int(np.count_nonzero(cand & ~ok))
        if bad:
            rep.dropped += bad
            first = int(grid[np.flatnonzero(cand & ~ok)[0]])
            rep.problem(f"class {cid}: {bad} item header(s) invalid, first at offset {first}")
        valid_parts.append(grid[ok])
        free_parts[cid] = [grid[~ok]]
        cid_parts.append(np.full(int(np.count_nonzero(ok)), cid, np.int64))
        nkey_parts.append(nkey[ok])
        ntotal_parts.append(ntotal[ok])

    def joined(parts):
        return np.concatenate(parts) if parts else np.empty(0, np.int64)
    valid, vcid = joined(valid_parts), joined(cid_parts)
    vnkey, vntotal = joined(nkey_parts), joined(ntotal_parts)
    if len(valid) > 1 and not bool((valid[1:] > valid[:-1]).all()):   # classes interleave
        order = np.argsort(valid)
        valid, vcid, vnkey, vntotal = valid[order], vcid[order], vnkey[order], vntotal[order]

    _lap(rep, "LRU lists")
    # ---- LRU lists: every link points at a valid item of its class, and back --------------
    keep = np.ones(len(valid), bool)
    vw = valid >> 3
    nxt, prv = words[vw + NEXT].copy(), words[vw + PREV].copy()

    def member(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(valid, x).clip(0, max(len(valid) - 1, 0))
        return pos, (len(valid) > 0) & (valid[pos] == x) if len(valid) else np.zeros(len(x), bool)

    npos, nin = member(nxt)
    ppos, pin = member(prv)
    good_next = (nxt == NIL) | (nin & (vcid[npos] == vcid) & (prv[npos] == valid))
    good_prev = (prv == NIL) | (pin & (vcid[ppos] == vcid) & (nxt[ppos] == valid))
    links_ok = good_next & good_prev
    # per-class tallies in single passes (a pass per class over every item costs seconds)
    count_of = np.bincount(vcid, minlength=ncls)
    bad_of = np.bincount(vcid, weights=~links_ok, minlength=ncls)
    heads_of = np.bincount(vcid[prv == NIL], minlength=ncls)
    tails_of = np.bincount(vcid[nxt == NIL], minlength=ncls)
    for cid in range(1, ncls):
        count = int(count_of[cid])
        h, t, size = int(heads[cid]), int(tails[cid]), int(sizes_saved[cid])
        cls_ok = (bad_of[cid] == 0 and count == size
                  and heads_of[cid] == (1 if count else 0)
                  and tails_of[cid] == (1 if count else 0))
        if cls_ok and count:
            hp, tp = int(np.searchsorted(valid, h)), int(np.searchsorted(valid, t))
            cls_ok = (hp < len(valid) and valid[hp] == h and prv[hp] == NIL and vcid[hp] == cid
                      and tp < len(valid) and valid[tp] == t and nxt[tp] == NIL)
        if cls_ok:
            lru.heads[cid], lru.tails[cid], lru.sizes[cid] = (h, t, size) if count else (NIL, NIL, 0)
            continue
        mine = vcid == cid
        rep.problem(f"class {cid}: LRU list does not close (head {h}, {count} items, saved {size})")
        kept = _rewalk(words, set(valid[mine].tolist()), h, t, size)
        mine_idx = np.flatnonzero(mine)
        reached = np.isin(valid[mine_idx], np.array(kept, np.int64))
        keep[mine_idx[~reached]] = False
        rep.dropped += int(np.count_nonzero(~reached))
        _relink(words, lru, cid, kept)
    if not keep.all():
        for cid in np.unique(vcid[~keep]).tolist():
            free_parts[cid].append(valid[~keep & (vcid == cid)])
        valid, vcid, vnkey, vntotal = valid[keep], vcid[keep], vnkey[keep], vntotal[keep]

    _lap(rep, "dead chains")
    # ---- chains of items that did not survive are freed below ----------------------------
    alive = set(valid[vcid == largest].tolist()) if chains else set()
    for head in [hd for hd in chains if hd not in alive]:
        del chains[head]
    store.chains.clear()
    store.chains.update(chains)
    store.chain_head.clear()                # the page mover's reverse map: chunk -> its item
    store.chain_head.update({c: head for head, extra in chains.items() for c in extra})
    used = {c for ex in chains.values() for c in ex}
    if listed - used:
        free_parts[largest].append(np.array(sorted(listed - used), np.int64))

    _lap(rep, "counters")
    # ---- counters ------------------------------------------------------------------------
    nkey, ntotal = vnkey, vntotal
    per_class = np.bincount(vcid, minlength=ncls)
    per_bytes = np.bincount(vcid, weights=ntotal, minlength=ncls)
    for cid in range(1, ncls):
        store.mem_requested[cid] = int(per_bytes[cid])
        if per_class[cid]:
            rep.items[cid] = int(per_class[cid])
    store.curr_items = store.total_items = len(valid)
    store.bytes = int(ntotal.sum())
    store.cas_id = cas_id
    store.liveness.oldest_live = _int(state, "oldest_live")
    store.liveness.oldest_cas = _int(state, "oldest_cas")
    store.get_expired = int(state.get("get_expired", "0") or 0)
    store.get_flushed = int(state.get("get_flushed", "0") or 0)

    _lap(rep, "free lists")
    # ---- free lists: every cut chunk that holds no item -----------------------------------
    for cid in range(1, ncls):
        free = np.concatenate(free_parts[cid]) if free_parts[cid] else np.empty(0, np.int64)
        s = slabs.classes[cid]
        fw = free >> 3
        words[fw + SIZES] = FREE_FLAG_WORD
        if len(free):                   # doubly linked, as SlabAllocator.free links them
            words[fw[:-1] + NEXT] = free[1:]
            words[fw[-1] + NEXT] = NIL
            words[fw[1:] + PREV] = free[:-1]
            words[fw[0] + PREV] = NIL
        s.free_head = int(free[0]) if len(free) else NIL
        s.free_count = len(free)

    _lap(rep, "index")
    _build_index(store, valid, nkey, buf, hdr)
    _lap(rep, "")
    return rep


def _lap(rep: RestoreReport, phase: str) -> None:
    now = time.perf_counter()
    last = getattr(rep, "_t", None)
    if last is not None:
        rep.timings.append((rep._phase, now - last))
    rep._t, rep._phase = now, phase


def _rewalk(words, valid: set[int], head: int, tail: int, size: int) -> list[int]:
    """A broken class's items in LRU order: from the head forward while links hold, then
    from the tail backward, each item once; what neither walk reaches is lost."""
    seen: list[int] = []
    got: set[int] = set()
    prev, off = NIL, head
    while off in valid and off not in got and words[(off >> 3) + PREV] == prev:
        seen.append(off)
        got.add(off)
        prev, off = off, words[(off >> 3) + NEXT]
    back: list[int] = []
    nxt, off = NIL, tail
    while off in valid and off not in got and words[(off >> 3) + NEXT] == nxt:
        back.append(off)
        got.add(off)
        nxt, off = off, words[(off >> 3) + PREV]
    return seen + back[::-1]


def _relink(words, lru, cid: int, order: list[int]) -> None:
    """Thread `order` (head first) as class `cid`'s LRU list."""
    a = np.array(order, np.int64)
    if len(a):
        w = a >> 3
        words[w + PREV] = np.concatenate([[NIL], a[:-1]])
        words[w + NEXT] = np.concatenate([a[1:], [NIL]])
    lru.heads[cid] = int(a[0]) if len(a) else NIL
    lru.tails[cid] = int(a[-1]) if len(a) else NIL
    lru.sizes[cid] = len(a)


def _key_hashes(valid: np.ndarray, nkey: np.ndarray, buf: np.ndarray, hdr: int,
                mem) -> np.ndarray:
    """hash(key) of every item, in `valid`'s order: keys come out as fixed-width rows per key
    length (one `tolist` per length), so the only per-item Python work is `hash` itself."""
    h = np.empty(len(valid), np.int64)
    for n in np.unique(nkey).tolist():
        idx = np.flatnonzero(nkey == n)
        # every byte offset of the arena as the start of an n-byte record: one gather of
        # the key records, no (items x n) index array
        window = np.ndarray((len(buf) - n + 1,), dtype=f"S{n}", buffer=buf, strides=(1,))
        starts = valid[idx] + hdr
        recs = window[starts]
        keys = recs.tolist()                   # numpy drops trailing NULs: redo those
        for j in np.flatnonzero(buf[starts + (n - 1)] == 0).tolist():
            start = int(starts[j])
            keys[j] = mem[start:start + n]
        h[idx] = np.fromiter(map(hash, keys), np.int64, len(keys))
    return h


def _build_index(store, valid: np.ndarray, nkey: np.ndarray, buf: np.ndarray, hdr: int) -> None:
    """Fill the KeyIndex's two arrays at once, as if every item had been inserted in the
    order of its home slot (any insertion order gives a valid probe layout)."""
    index = store.index
    n = len(valid)
    capacity = MIN_CAPACITY
    while n > int(capacity * MAX_FILL):
        capacity *= 2
    index._alloc(capacity)
    if not n:
        return
    h = _key_hashes(valid, nkey, buf, hdr, store.arena.mem)
    mask = capacity - 1
    slots = np.frombuffer(index._slots, dtype=np.int32 if index._slot_type == "i" else np.int64)
    hashes = np.frombuffer(index._hashes, dtype=np.uint32)
    vals = valid >> 3
    hf = (h & HASH_MASK).astype(np.uint32)
    home = h & mask
    # Items in home order, item i goes to max(home_i, slot of item i-1 + 1): slot - rank is a
    # running maximum of home - rank, so every slot between an item's home and its slot is
    # taken, which is all a linear probe needs. Without a sort: ranks come from the counts
    # per home slot, and the items sharing a home take their turns in rounds (one per slot
    # per round; a home rarely has more than a few).
    count = np.bincount(home, minlength=capacity)
    first_rank = np.cumsum(count) - count                # rank of a slot's first item
    slot_ids = np.arange(capacity, dtype=np.int64)
    lead = np.where(count > 0, slot_ids - first_rank, np.iinfo(np.int64).min)
    start = np.maximum.accumulate(lead) + first_rank     # where a slot's first item goes
    pos = np.empty(n, np.int64)
    owner = np.full(capacity, -1, np.int64)
    rest, turn = np.arange(n, dtype=np.int64), 0
    while len(rest):
        hr = home[rest]
        owner[hr] = rest                                 # last writer wins: one per slot
        won = owner[hr] == rest
        pos[rest[won]] = start[hr[won]] + turn
        rest, turn = rest[~won], turn + 1
    inside = pos < capacity
    order = np.flatnonzero(~inside)
    slots[pos[inside]] = vals[inside]
    hashes[pos[inside]] = hf[inside]
    for k in order.tolist():   # the run went past the last slot: wrap, probe on
        i = 0
        while slots[i] != EMPTY:
            i += 1
        slots[i] = vals[k]
        hashes[i] = hf[k]
    index._count = n

