"""figures: every figure is drawn with the Figure API, leaving the caller's matplotlib alone."""

from __future__ import annotations

import subprocess
import sys

#: Draws each kind of figure in a fresh interpreter, then prints whether pyplot was imported
#: and which backend matplotlib is set to (still unresolved unless someone switched it).
SCRIPT = """
import sys, matplotlib
from moviegenre.report import figures
out = sys.argv[1]
before = matplotlib.rcParams._get_backend_or_none()
figures.genre_bars({"drama": 3, "comedy": 1}, out + "/g.png")
figures.histogram([1, 2, 2, 3], out + "/h.png", title="t", xlabel="x")
per_class = {"drama": {"f1": 0.5, "support": 2}}
figures.f1_bars(per_class, out + "/f.png")
metrics = {"labels": ["a", "b"], "confusion": [[2, 1], [0, 3]], "accuracy": 0.83}
figures.confusion(metrics, out + "/c.png")
figures.training_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}],
                        out + "/t.png", best_epoch=2)
figures.cooccurrence(["a", "b"], [[3, 1], [1, 2]], out + "/o.png")
print("matplotlib.pyplot" in sys.modules, before == matplotlib.rcParams._get_backend_or_none())
"""


def test_drawing_neither_imports_pyplot_nor_switches_the_backend(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True"]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["c.png", "f.png", "g.png", "h.png", "o.png", "t.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in tmp_path.glob("*.png"))


def test_cooccurrence_heatmap_shows_the_counts_of_the_data(tiny_multilabel_csv):
    """Every cell's number and colour against a count made here with csv and itertools."""
    import csv
    import itertools
    from collections import Counter

    import numpy as np

    from moviegenre.data import load_dataset
    from moviegenre.report import figures

    with tiny_multilabel_csv.open(encoding="utf-8") as fh:
        sets = [[g.strip().lower() for g in r["genre"].split(",")] for r in csv.DictReader(fh)]
    both = Counter(pair for genres in sets for pair in itertools.product(genres, repeat=2))
    names, matrix = load_dataset(tiny_multilabel_csv).cooccurrence()
    fig = figures.cooccurrence_figure(names, matrix)
    ax = fig.axes[0]
    shown = {(int(round(t.get_position()[1])), int(round(t.get_position()[0]))): t.get_text()
             for t in ax.texts}  # fmt: skip
    expected = {
        (i, j): str(both[(a, b)])
        for (i, a), (j, b) in itertools.product(enumerate(names), repeat=2)
        if both[(a, b)]
    }
    assert shown == expected
    colour = ax.images[0].get_array()
    for (i, a), (j, b) in itertools.product(enumerate(names), repeat=2):
        if i == j:
            assert colour.mask[i, j]  # the diagonal is grey, not a share
        else:
            assert colour[i, j] == both[(a, b)] / both[(a, a)]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert np.array_equal(np.diag(matrix), [both[(g, g)] for g in names])


def test_genre_bars_of_genre_sets_give_shares_of_rows(tmp_path):
    from matplotlib import image

    from moviegenre.report import figures

    path = figures.genre_bars({"drama": 3, "crime": 2}, tmp_path / "g.png", rows=4)
    assert image.imread(path).shape[0] > 100
    fig_title = _title_of(figures.genre_bars, {"drama": 3, "crime": 2}, rows=4)
    assert fig_title == "Genre distribution (4 rows, 2 genres; a row counts for each of its genres)"
    assert _labels_of(figures.genre_bars, {"drama": 3, "crime": 2}, rows=4) == [
        "  2 (50.0%)",
        "  3 (75.0%)",
    ]
    assert _labels_of(figures.genre_bars, {"drama": 3, "crime": 1}) == [
        "  1 (25.0%)",
        "  3 (75.0%)",
    ]


def _drawn(draw, *args, **kwargs):
    """The Figure a figures function saves, caught instead of written."""
    from unittest import mock

    from moviegenre.report import figures

    saved = []
    with mock.patch.object(figures, "_save", lambda fig, path: saved.append(fig) or path):
        draw(*args, "unused.png", **kwargs)
    return saved[0]


def _title_of(draw, *args, **kwargs) -> str:
    return _drawn(draw, *args, **kwargs).axes[0].get_title(loc="left")


def _labels_of(draw, *args, **kwargs) -> list[str]:
    return [t.get_text() for t in _drawn(draw, *args, **kwargs).axes[0].texts]
