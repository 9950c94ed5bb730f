"""figures: every figure is drawn with the Figure API, leaving the caller's matplotlib alone."""

from __future__ import annotations

import subprocess
import sys

#: Draws each kind of figure in a fresh interpreter, then prints whether pyplot was imported
#: and which backend matplotlib is set to (still unresolved unless someone switched it).
SCRIPT = """
import sys, matplotlib
from moviegenre import figures
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
print("matplotlib.pyplot" in sys.modules, before == matplotlib.rcParams._get_backend_or_none())
"""


def test_drawing_neither_imports_pyplot_nor_switches_the_backend(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["False", "True"]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["c.png", "f.png", "g.png", "h.png", "t.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in tmp_path.glob("*.png"))
