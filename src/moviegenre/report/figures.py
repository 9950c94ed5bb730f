"""The report's matplotlib figures in one style: every function draws one PNG and returns its path.

Figures are sized from the number of labels so that 27 genres never overlap at 100% zoom.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import atomic_write, plural

#: The one accent colour (bars, histograms), a muted second one, and the text grey.
ACCENT = "#3b6ea8"
SECOND = "#d1823b"
MUTED = "#6b7280"
DPI = 110
#: Width of every full-width figure, in inches (~1,100 px at DPI): the page's column width.
WIDTH = 10.0
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": "#111827",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": "#e5e7eb",
    "xtick.color": "#374151",
    "ytick.color": "#374151",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


@contextmanager
def styled() -> Iterator[None]:
    """Apply the report style while a figure is drawn; rcParams are restored afterwards.

    Figures are built with the Figure API (no pyplot, no ``matplotlib.use``), so drawing a
    report never changes the backend or figure registry of the program that asked for it.
    """
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any) -> tuple[Any, Any]:
    """A new Figure (constrained layout) and its axes, like ``plt.subplots`` without pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(*grid, **options)


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:  # a full disk leaves no half-written image
        # a bare Figure picks the Agg canvas for PNG by itself
        fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".").lower() or "png")
    return out


def _bar_height(n: int) -> float:
    return max(2.2, 0.3 * n + 1.2)


def genre_bars(
    counts: Mapping[str, int], path: str | os.PathLike[str], rows: int | None = None
) -> Path:
    """Horizontal bars of rows per genre, largest on top, labelled with count and percent.

    ``rows``: the file's rows when a row may hold several genres (percent of rows; the
    counts then sum to more than ``rows``); by default the counts' sum.
    """
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = rows or sum(counts.values()) or 1
    names = [k for k, _ in items][::-1]
    values = np.array([v for _, v in items][::-1], dtype=float)
    from matplotlib.ticker import MaxNLocator

    with styled():
        fig, ax = _subplots(figsize=(WIDTH, _bar_height(len(names))))
        ax.barh(range(len(names)), values, color=ACCENT, height=0.7)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlim(0, values.max() * 1.18 if len(values) else 1)
        for i, v in enumerate(values):
            ax.text(v, i, f"  {int(v):,} ({v / total:.1%})", va="center", fontsize=9, color=MUTED)
        ax.set_xlabel("descriptions")
        several = "; a row counts for each of its genres" if rows else ""
        ax.set_title(f"Genre distribution ({total:,} rows, {plural(len(names), 'genre')}{several})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.xaxis.grid(True)
        ax.set_axisbelow(True)
        return _save(fig, path)


def histogram(
    values: Sequence[float],
    path: str | os.PathLike[str],
    *,
    title: str,
    xlabel: str,
    integer_bins: bool = False,
) -> Path:
    """A histogram with its median marked; ``integer_bins`` gives whole-number bins (years)."""
    data = np.asarray(values, dtype=float)
    low, high = (data.min(), data.max()) if len(data) else (0.0, 1.0)
    if integer_bins:
        step = max(1, int(np.ceil((high - low + 1) / 40)))
        bins: Any = np.arange(low, high + step + 1, step) - 0.5
    else:
        bins = min(40, max(5, len(np.unique(data)))) if len(data) else 5
    from matplotlib.ticker import MaxNLocator

    with styled():
        fig, ax = _subplots(figsize=(WIDTH / 2, 3.6))
        ax.hist(data, bins=bins, color=ACCENT, edgecolor="white", linewidth=0.5)
        if len(data):
            median = float(np.median(data))
            ax.axvline(median, color=SECOND, linewidth=1.5, label=f"median {median:g}")
            ax.legend(loc="best", framealpha=0.9, edgecolor="none")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("descriptions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        if integer_bins:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
            ax.set_xlim(min(low - 0.5, high - 9.5), max(high + step + 0.5, low + 9.5))
        ax.set_title(title)
        ax.yaxis.grid(True)
        ax.set_axisbelow(True)
        return _save(fig, path)


def wordcloud_grid(
    terms: Mapping[str, Mapping[str, float]],
    rows: Mapping[str, int],
    path: str | os.PathLike[str],
    *,
    columns: int = 4,
    random_state: int = 0,
) -> Path:
    """One word cloud per genre (weights from ``terms``); raises ImportError without wordcloud."""
    from wordcloud import WordCloud

    names = list(terms)
    columns = max(1, min(columns, len(names)))
    n_rows = max(1, int(np.ceil(len(names) / columns)))
    with styled():
        width = max(5.0, WIDTH * columns / 4)
        fig, axes = _subplots(
            n_rows,
            columns,
            figsize=(width, 1.95 * n_rows + 0.3),
            squeeze=False,
        )
        for ax in axes.ravel():
            ax.axis("off")
        for ax, name in zip(axes.ravel(), names, strict=False):
            weights = {t: w for t, w in terms[name].items() if w > 0}
            ax.set_title(f"{name} ({rows.get(name, 0):,} rows)", fontsize=10.5, loc="center")
            if not weights:
                ax.text(0.5, 0.5, "no terms", ha="center", va="center", color=MUTED)
                continue
            cloud = WordCloud(
                width=420,
                height=230,
                background_color="white",
                color_func=_cloud_colour,
                max_words=30,
                prefer_horizontal=1.0,
                random_state=random_state,
                min_font_size=8,
            ).generate_from_frequencies(weights)
            ax.imshow(cloud.to_array(), interpolation="bilinear")
        fig.suptitle(
            "Characteristic words (size = log-odds z-score against the other genres)",
            x=0.01,
            ha="left",
            fontweight="bold",
        )
        return _save(fig, path)


def _cloud_colour(*_args: Any, random_state: Any = None, **_kw: Any) -> str:
    """Word-cloud colours from the report palette: dark blues, the odd orange word."""
    palette = ("#1e3a5f", "#2c5282", ACCENT, "#4a7fb8", SECOND)
    return palette[(random_state or random.Random(0)).randint(0, len(palette) - 1)]


def cooccurrence_figure(names: Sequence[str], counts: Any) -> Any:
    """The co-occurrence heatmap as a Figure: cell (i, j) holds the rows with genres i and j,
    coloured by their share of genre i's rows; the diagonal (genre i's rows) is grey."""
    import matplotlib

    counts = np.asarray(counts, dtype=float)
    own = np.diag(counts).copy()
    share = np.divide(counts, own[:, None], out=np.zeros_like(counts), where=own[:, None] > 0)
    np.fill_diagonal(share, np.nan)
    size = max(5.0, min(WIDTH - 1.2, 0.32 * len(names) + 1.8))
    with styled():
        fig, ax = _subplots(figsize=(size + 1.2, size + 0.4))
        cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#e5e7eb")
        image = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=9)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.set_xlabel("also holds this genre")
        ax.set_ylabel("rows with this genre")
        ax.set_title("Genre co-occurrence: rows holding both genres")
        small = 7 if len(names) <= 30 else 5.5
        for i, j in zip(*np.nonzero(counts), strict=True):
            dark = i != j and share[i, j] > 0.5
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=small,
                    color="white" if dark else "black")  # fmt: skip
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the row genre's rows")
        return fig


def cooccurrence(names: Sequence[str], counts: Any, path: str | os.PathLike[str]) -> Path:
    """Draw :func:`cooccurrence_figure` to ``path``."""
    return _save(cooccurrence_figure(names, counts), path)


def f1_bars(per_class: Mapping[str, Mapping[str, float]], path: str | os.PathLike[str]) -> Path:
    """F1 per genre (genres present in the data), best on top, with support beside each bar."""
    items = [(g, row) for g, row in per_class.items() if row.get("support", 0)]
    items.sort(key=lambda kv: (-kv[1]["f1"], kv[0]))
    names = [g for g, _ in items][::-1]
    f1 = [row["f1"] for _, row in items][::-1]
    support = [int(row["support"]) for _, row in items][::-1]
    with styled():
        fig, ax = _subplots(figsize=(WIDTH, _bar_height(len(names))))
        ax.barh(range(len(names)), f1, color=ACCENT, height=0.7)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_xlim(0, 1.12)
        for i, (v, n) in enumerate(zip(f1, support, strict=True)):
            ax.text(v, i, f"  {v:.2f} (n={n:,})", va="center", fontsize=9, color=MUTED)
        ax.set_xlabel("F1")
        ax.set_title("F1 per genre")
        ax.xaxis.grid(True)
        ax.set_axisbelow(True)
        return _save(fig, path)


def confusion(metrics: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Row-normalised confusion matrix (recall per true genre), counts in the cells."""
    labels = list(metrics["labels"])
    counts = np.asarray(metrics["confusion"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(5.0, min(WIDTH - 1.2, 0.3 * len(labels) + 1.6))
    with styled():
        fig, ax = _subplots(figsize=(size + 1.2, size + 0.4))
        image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=9)
        ax.set_yticks(range(len(labels)), labels, fontsize=9)
        ax.set_xlabel("predicted genre")
        ax.set_ylabel("true genre")
        ax.set_title(f"Confusion matrix (row-normalised), accuracy {metrics['accuracy']:.3f}")
        small = 7 if len(labels) <= 30 else 5.5
        for i, j in zip(*np.nonzero(counts), strict=True):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=small,
                    color=colour)  # fmt: skip
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the true genre")
        return _save(fig, path)


def training_curves(
    epochs: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], best_epoch: int | None
) -> Path:
    """Loss and accuracy per epoch (train and validation), the best epoch marked."""
    xs = [int(e.get("epoch", i + 1)) for i, e in enumerate(epochs)]
    panels = [("loss", "train_loss", "val_loss"), ("accuracy", "train_accuracy", "val_accuracy")]
    panels = [p for p in panels if any(k in e for e in epochs for k in p[1:])]
    with styled():
        fig, axes = _subplots(1, max(1, len(panels)), figsize=(WIDTH, 3.6), squeeze=False)
        for ax, (name, train_key, val_key) in zip(axes[0], panels, strict=False):
            for key, colour, label in ((train_key, ACCENT, "train"), (val_key, SECOND, "val")):
                pts = [(x, e[key]) for x, e in zip(xs, epochs, strict=True) if _number(e.get(key))]
                if pts:
                    ax.plot(*zip(*pts, strict=True), marker="o", color=colour, label=label)
            if best_epoch is not None:
                ax.axvline(
                    best_epoch, color=MUTED, linestyle="--", label=f"best epoch {best_epoch}"
                )
            ax.set_xlabel("epoch")
            ax.set_title(name.capitalize())
            ax.set_xticks(xs)
            ax.yaxis.grid(True)
            ax.legend(frameon=False)
        return _save(fig, path)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
