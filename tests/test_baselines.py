"""The seed's baseline comparison."""

from __future__ import annotations

from moviegenre.baselines import BASELINES, run_baselines
from moviegenre.data import from_records
from tests.conftest import tiny_rows


def test_every_baseline_and_ours_is_scored():
    train_rows, test_rows = tiny_rows(50, seed=8), tiny_rows(20, seed=9)
    train = from_records([r[3] for r in train_rows], [r[2] for r in train_rows])
    test = from_records([r[3] for r in test_rows], [r[2] for r in test_rows])
    rows = run_baselines(train, test)
    assert [r["model"] for r in rows] == [*BASELINES, "moviegenre linear"]
    assert all(0 <= r["accuracy"] <= 1 and r["train_seconds"] >= 0 for r in rows)
    assert rows[-1]["accuracy"] > 0.9
