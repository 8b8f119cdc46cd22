"""What a grid run shows: a terminal table, the --json list, and a matplotlib PNG.

The PNG has two panels: hit ratio against memory, one line per growth factor (and LRU mode);
and, for each configuration, the share of pages each slab class held at the end, which is
where a growth factor shows its effect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .engine import Result

COLUMNS = ("memory_mb", "growth_factor", "lru", "requests", "hit_ratio", "byte_hit_ratio",
           "evictions", "expired", "items", "pages", "top_evicting")


def _cell(result: Result, column: str) -> str:
    value = getattr(result, column)
    if column in ("hit_ratio", "byte_hit_ratio"):
        return f"{100 * value:.2f}%"
    if column == "top_evicting":
        return " ".join(f"{c['class']}({c['chunk_size']}B):{c['evicted']}" for c in value) or "-"
    return str(value)


def table(results: Sequence[Result]) -> str:
    """A fixed-width table, one row per configuration."""
    rows = [list(COLUMNS)] + [[_cell(r, c) for c in COLUMNS] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) if i < len(COLUMNS) - 1 else cell
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    return "\n".join(lines)


def write_json(results: Sequence[Result], path: str) -> None:
    with open(path, "w") as f:
        json.dump([r.to_json() for r in results], f, indent=1)
        f.write("\n")


def plot(results: Sequence[Result], path: str, title: str = "") -> None:
    """Hit ratio against memory per growth factor; per-class page share per configuration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(13, 5))
    lines: dict[tuple[float, str], list[Result]] = {}
    for r in results:
        lines.setdefault((r.growth_factor, r.lru), []).append(r)
    for (factor, lru), rs in sorted(lines.items()):
        rs.sort(key=lambda r: r.memory_mb)
        ax.plot([r.memory_mb for r in rs], [100 * r.hit_ratio for r in rs], marker="o",
                label=f"-f {factor} ({lru} LRU)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("memory (-m, MB)")
    ax.set_ylabel("hit ratio (%)")
    ax.set_title(title or "hit ratio against memory")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _page_share(bars, results)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _page_share(ax, results: Sequence[Result]) -> None:
    # One stacked bar per configuration; each segment a slab class, labelled by chunk size.
    import matplotlib.pyplot as plt
    sizes = sorted({c["chunk_size"] for r in results for c in r.classes})
    colours = plt.get_cmap("viridis", max(2, len(sizes)))
    labels = [f"{r.memory_mb}M f{r.growth_factor}" for r in results]
    bottom = [0.0] * len(results)
    for i, size in enumerate(sizes):
        share = []
        for r in results:
            pages = sum(c["pages"] for c in r.classes if c["chunk_size"] == size)
            share.append(100 * pages / r.pages if r.pages else 0.0)
        if any(share):
            ax.bar(labels, share, bottom=bottom, color=colours(i), label=f"{size} B")
            bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_ylabel("share of pages (%)")
    ax.set_title("pages per slab class at the end")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    if 0 < len(sizes) <= 16:
        ax.legend(fontsize=7, title="chunk size")
