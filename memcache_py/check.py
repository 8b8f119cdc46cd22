"""`python -m memcache_py.check FILE`: would this memory file restore cleanly? (offline)

memcached has no such tool; this is our redis-check-rdb. It reads FILE.meta without consuming
it, takes the layout settings from it, maps FILE copy-on-write (the file is never changed),
runs the same rebuild a warm start runs, then walks every LRU list and checks the index, the
free lists and the counters against each other. It prints items and pages per class, the pages
no class owns yet (the pool), and the first inconsistency found; the exit status is 0 only when
a start with these settings would restore every item.
"""

from __future__ import annotations

import argparse
import os
import sys

from allocator.persist import PersistError, restore

from . import restart
from .settings import Settings

EXIT_DAMAGED = 1        # the file restores, but not every item would come back
EXIT_REFUSED = 2        # a start would be cold: no usable metadata or layout


def settings_from(main: dict[str, str], memory_file: str) -> Settings:
    """The layout settings a FILE.meta was written with."""
    try:
        return Settings(memory_limit=int(main["maxbytes"]), chunk_size=int(main["chunk_size"]),
                        growth_factor=float(main["slab_config"]),
                        item_size_max=int(main["item_size_max"]),
                        slab_chunk_max=int(main["slab_chunk_size_max"]),
                        cas_enabled=main["use_cas"] == "true",
                        no_modern=main["slab_reassign"] == "false", memory_file=memory_file)
    except (KeyError, ValueError) as exc:
        raise restart.Refused(f"metadata lacks a usable layout setting: {exc}") from None


def run(path: str, out=sys.stdout) -> int:
    """Check one memory file; print the report; the exit status."""
    def say(line: str = "") -> None:
        print(line, file=out)

    meta = restart.meta_path(path)
    try:
        try:
            with open(meta, "rb") as f:
                sections = restart.parse(f.read(restart.MAX_META_BYTES))
        except FileNotFoundError:
            raise restart.Refused(f"no metadata file {meta}: a start would be cold") from None
        except OSError as exc:
            raise restart.Refused(f"cannot read {meta}: {exc.strerror}") from None
        settings = settings_from(sections.get("main", {}), path)
        resume = restart.check(sections, settings, now=2**62)   # stop time: checked below
        size = os.path.getsize(path) if os.path.exists(path) else -1
        want = restart.expected_size(settings)
        if size != want:
            raise restart.Refused(f"memory file is {size} bytes, the layout needs {want}")
        store = restart.make_store(settings, wipe=False, private=True)
        try:
            report = restore(store, resume.state)
        except PersistError as exc:
            raise restart.Refused(f"saved allocator state unusable: {exc}") from None
    except restart.Refused as why:
        say(f"{path}: would start cold: {why}")
        return EXIT_REFUSED
    problems = list(report.problems)
    try:
        store.check_invariants()         # full LRU walks, index vs LRUs vs free lists vs counts
    except AssertionError as exc:
        problems.append(f"after rebuild: {exc}")
    say(f"{path}: {size} bytes, {store.arena.capacity_pages} pages of "
        f"{store.arena.page_size} bytes")
    say(f"  -m {settings.memory_limit // (1024 * 1024)} -n {settings.chunk_size} "
        f"-f {settings.growth_factor} -I {settings.item_size_max} "
        f"slab_chunk_max {settings.slab_chunk_max} cas {'on' if settings.cas_enabled else 'off'}")
    say(f"  stopped at {resume.stop_time} (unix), clock {resume.current_time}, "
        f"next cas {store.cas_id + 1}, flush watermark {store.liveness.oldest_live}")
    say(f"  {'class':>5} {'chunk':>7} {'pages':>6} {'items':>9} {'free':>9}")
    for cid in range(1, len(store.slabs.classes)):
        s = store.slabs.classes[cid]
        pages = report.pages.get(cid, 0)
        if pages:
            say(f"  {cid:>5} {s.chunk_size:>7} {pages:>6} {report.items.get(cid, 0):>9} "
                f"{s.free_chunks:>9}")
    say(f"  pages in the pool: {report.pool_pages}")
    say(f"  items: {report.total_items}, dropped: {report.dropped}")
    if problems:
        say(f"  first inconsistency: {problems[0]}")
        say("  would restore: with losses")
        return EXIT_DAMAGED
    say("  first inconsistency: none")
    say("  would restore: cleanly")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m memcache_py.check",
                                 description="check a memory file (-e) and its .meta offline")
    ap.add_argument("file", help="the memory file given to -e")
    args = ap.parse_args(argv)
    return run(args.file)


if __name__ == "__main__":
    raise SystemExit(main())
