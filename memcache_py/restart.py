"""Restart: the memory file's metadata (FILE.meta), and the warm or cold start it decides.

memcached 1.6's `-e` (restart.c): a graceful stop (SIGUSR1, `shutdown graceful`) msyncs the
mapped arena and writes FILE.meta: a `Tmain` section with memcached's keys, under which an
operator's runbook can read the layout settings, the clock, the CAS counter and the flush
watermark. Ours adds a `Tmemcache_py` section (allocator/persist.py's state, with our layout
version) and a CRC over everything. The file is consumed at start, used or not, so a crash
after a warm start makes the next start cold. Where memcached aborts (an empty or damaged
.meta) we print one `[restart]` line saying why and start cold. Our files cannot be exchanged
with memcached's: the item layout differs.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import dataclass

from allocator import ItemStore
from allocator.persist import LAYOUT_VERSION, PersistError, RestoreReport, restore, snapshot
from allocator.slabclass import PAGE_SIZE, SlabClassTable

from .clock import Clock

MAX_META_BYTES = 64 * 1024 * 1024     # far above any real state: a runaway file is refused


class Refused(Exception):
    """The saved state may not be used; `str()` is the reason for the log line."""


@dataclass
class Resume:
    """What a usable FILE.meta says."""

    state: dict[str, str]          # allocator/persist.py's section
    process_started: int
    current_time: int              # the clock at the stop
    stop_time: int                 # wall-clock seconds at the stop
    current_cas: int = 0           # memcached's saved CAS id (one past the last handed out)


def meta_path(memory_file: str) -> str:
    return memory_file + ".meta"


def layout(settings) -> dict[str, str]:
    """memcached's keys that must be equal for a warm start, with our values for them."""
    return {
        "slab_config": repr(float(settings.growth_factor)),
        "maxbytes": str(settings.memory_limit),
        "chunk_size": str(settings.chunk_size),
        "item_size_max": str(settings.item_size_max),
        "slab_chunk_size_max": str(settings.slab_chunk_max),
        "slab_page_size": str(max(PAGE_SIZE, settings.slab_chunk_max)),
        "use_cas": "true" if settings.cas_enabled else "false",
        # memcached's key; with slab_chunk_max it also fixes how pages count (exact_pages)
        "slab_reassign": "true" if settings.slab_reassign else "false",
    }


def exact_pages(settings) -> bool:
    """memcached's do_slabs_newslab: a page counts chunk x perslab against -m (not a whole
    1 MB) only without the page mover and without chunked items (e.g. -o no_modern)."""
    return not settings.slab_reassign and settings.slab_chunk_max == PAGE_SIZE


def make_store(settings, wipe: bool = True, private: bool = False) -> ItemStore:
    """The ItemStore for these settings, over the memory file when there is one
    (`private`: a copy-on-write mapping that never changes the file, for the checker)."""
    return ItemStore(settings.memory_limit, chunk_size=settings.chunk_size,
                     factor=settings.growth_factor, slab_chunk_max=settings.slab_chunk_max,
                     item_size_max=settings.item_size_max, cas_enabled=settings.cas_enabled,
                     evictions=settings.evictions,
                     exact_page_bytes=exact_pages(settings),
                     memory_file=settings.memory_file, wipe=wipe, private=private)


def render(settings, clock: Clock, store: ItemStore, stop_time: int) -> bytes:
    """FILE.meta's text: memcached's section, ours, and a CRC line over both."""
    main = dict(layout(settings))
    main.update({
        "current_time": str(clock.current),
        "process_started": str(clock.process_started),
        "stop_time": str(stop_time),
        "current_cas": str(store.cas_id + 1),
        "oldest_cas": str(store.liveness.oldest_cas),
        "logger_gid": "0",
        "hashpower": str(max(16, (len(store.index) * 2).bit_length())),
        "oldest_live": str(store.liveness.oldest_live),
        "mmap_oldbase": "0x0",      # offsets, not pointers: nothing to rebase
    })
    lines = ["Tmain"] + [f"K{k} {v}" for k, v in main.items()]
    lines += ["Tmemcache_py"] + [f"K{k} {v}" for k, v in snapshot(store).items()]
    body = ("\n".join(lines) + "\n").encode()
    return body + b"Kcrc32 %08x\n" % zlib.crc32(body)


def save(settings, clock: Clock, store: ItemStore) -> None:
    """Graceful stop: msync the arena, then write FILE.meta (atomically, mode 0600)."""
    store.arena.flush()
    path = meta_path(settings.memory_file)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(render(settings, clock, store, int(time.time())))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse(data: bytes) -> dict[str, dict[str, str]]:
    """FILE.meta's sections, tag -> {key: value}; Refused on any malformed line or a bad CRC."""
    if not data:
        raise Refused("empty metadata file")
    body, sep, last = data.rstrip(b"\n").rpartition(b"\n")
    if not sep or not last.startswith(b"Kcrc32 "):
        raise Refused("metadata file has no checksum line (truncated?)")
    try:
        want = int(last[7:], 16)
    except ValueError:
        raise Refused("bad checksum line") from None
    if zlib.crc32(body + b"\n") != want:
        raise Refused("metadata checksum mismatch (damaged file)")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise Refused("metadata is not text") from None
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.split("\n"):
        if line.startswith("T") and len(line) > 1:
            current = sections.setdefault(line[1:], {})
        elif line.startswith("K") and current is not None and " " in line:
            key, _, value = line[1:].partition(" ")
            current[key] = value
        else:
            raise Refused(f"invalid metadata line: {line[:60]!r}")
    return sections


def check(sections: dict[str, dict[str, str]], settings, now: int) -> Resume:
    """memcached's _mc_meta_load_cb rules, and ours: the layout, our version, the stop time."""
    main = sections.get("main")
    ours = sections.get("memcache_py")
    if main is None or ours is None:
        raise Refused("missing some metadata lines")
    for key, value in layout(settings).items():
        if key not in main:
            raise Refused("missing some metadata lines")
        if main[key] != value:
            raise Refused(f"restart incompatible due to setting for [{key}] "
                          f"[old value: {main[key]}]")
    if ours.get("layout_version") != str(LAYOUT_VERSION):
        raise Refused(f"restart incompatible due to setting for [layout_version] "
                      f"[old value: {ours.get('layout_version')}]")
    try:
        stop_time = int(main["stop_time"])
        current = int(main["current_time"])
        started = int(main["process_started"])
        current_cas = int(main["current_cas"])
    except (KeyError, ValueError):
        raise Refused("missing some metadata lines") from None
    if stop_time >= now:
        raise Refused(f"stop time {stop_time} is not in the past (now {now})")
    if current < 0 or started <= 0:
        raise Refused("bad clock in metadata")
    return Resume(ours, started, current, stop_time, current_cas)


def read_meta(settings, now: int) -> Resume:
    """Read and consume FILE.meta: it is deleted whatever it holds."""
    path = meta_path(settings.memory_file)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_META_BYTES + 1)
    except FileNotFoundError:
        raise Refused("no metadata save file, starting with a clean cache") from None
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    if len(data) > MAX_META_BYTES:
        raise Refused("metadata file too large")
    return check(parse(data), settings, now)


def log(line: str) -> None:
    print(f"[restart] {line}", file=sys.stderr, flush=True)


def open_store(settings, clock: Clock) -> tuple[ItemStore, RestoreReport | None]:
    """The daemon's store: warm from the memory file when FILE.meta allows, else cold.

    A warm start resumes `clock` where the stop left it plus the time spent stopped.
    """
    if settings.memory_file is None:
        return make_store(settings), None
    try:
        resume = read_meta(settings, int(time.time()))
        store = make_store(settings, wipe=False) if _file_fits(settings) else None
        if store is None:
            raise Refused("memory file is shorter or longer than the arena: not restored")
        began = time.monotonic()
        try:
            report = restore(store, resume.state)
        except PersistError as exc:
            raise Refused(f"saved allocator state unusable: {exc}") from None
    except Refused as why:
        if str(why).startswith("no metadata"):
            log(str(why))
        else:
            log(f"{why}; starting with a clean cache")
        return make_store(settings), None
    # memcached's save takes a CAS id (get_cas_id() increments) and its load continues from
    # it, so the first CAS after a warm restart skips one: the same here, byte for byte
    store.cas_id = max(store.cas_id, resume.current_cas)
    clock.resume(resume.process_started,
                 resume.current_time + max(0, int(time.time()) - resume.stop_time))
    took = time.monotonic() - began
    if report.dropped:
        log(f"restored {report.total_items} items in {took:.2f}s; dropped {report.dropped} "
            f"damaged item(s): {report.problems[0] if report.problems else ''}")
    elif settings.verbosity:
        log(f"restored {report.total_items} items in {took:.2f}s")
    if settings.verbosity > 1:
        log("recovery phases: " + ", ".join(f"{p} {t:.3f}s" for p, t in report.timings))
    return store, report


def _file_fits(settings) -> bool:
    try:
        size = os.path.getsize(settings.memory_file)
    except OSError:
        return False
    return size == expected_size(settings)


def expected_size(settings) -> int:
    """The memory file's size for these settings: the arena's capacity (ItemStore's rule)."""
    classes = SlabClassTable(settings.chunk_size, settings.growth_factor, settings.slab_chunk_max)
    page_size = max(PAGE_SIZE, settings.slab_chunk_max)
    exact = settings.no_modern and not settings.slab_reassign     # make_store's exact pages
    smallest = (min(c.chunk_size * c.chunks_per_page for c in classes) if exact
                else page_size)
    return (settings.memory_limit // smallest + len(classes)) * page_size
