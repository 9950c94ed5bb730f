"""Genre sets, indicator matrices and decision thresholds (multilabel.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moviegenre.errors import ConfigError
from moviegenre.multilabel import (
    as_sets,
    choose_thresholds,
    decide,
    indicator,
    is_multi_label,
    unknown_genres,
)


@pytest.mark.parametrize(
    ("labels", "multi"),
    [(["drama", "comedy"], False), ([("drama",), "comedy"], True), ([["a", "b"]], True)],
)
def test_is_multi_label(labels, multi):
    assert is_multi_label(labels) is multi


def test_sets_and_indicator_agree_with_a_hand_count():
    sets = as_sets(["drama", ["comedy", "drama"], ("war", "zzz")])
    assert sets == [("drama",), ("comedy", "drama"), ("war", "zzz")]
    y = indicator(sets, ["comedy", "drama", "war"])
    assert y.tolist() == [[False, True, False], [True, True, False], [False, False, True]]
    assert unknown_genres(sets, ["comedy", "drama", "war"]) == ["zzz"]


def test_thresholds_follow_each_genres_f1_and_fall_back_to_global_for_rare_genres():
    rng = np.random.default_rng(0)
    n = 400
    truth = np.zeros((n, 3), dtype=bool)
    truth[:, 0] = rng.random(n) < 0.5
    truth[:, 1] = rng.random(n) < 0.3
    truth[:3, 2] = True  # three positives: too few for a curve of its own
    proba = np.where(truth, 0.35, 0.05) + rng.normal(0, 0.02, (n, 3))
    proba[:, 1] = np.where(truth[:, 1], 0.8, 0.6) + rng.normal(0, 0.02, n)
    thresholds, per_genre = choose_thresholds(proba, truth)
    assert per_genre.tolist() == [True, True, False]
    # genre 0 separates between 0.05 and 0.35, genre 1 between 0.6 and 0.8
    assert 0.1 <= thresholds[0] <= 0.3
    assert 0.65 <= thresholds[1] <= 0.75
    assert np.mean((proba[:, 1] >= thresholds[1]) == truth[:, 1]) > 0.95


def test_decide_keeps_at_least_the_top_genre():
    chosen = decide(np.array([[0.1, 0.2], [0.9, 0.95]]), np.array([0.5, 0.5]))
    assert chosen.tolist() == [[False, True], [True, True]]


def test_thresholds_refuse_mismatched_shapes():
    with pytest.raises(ConfigError, match="differ"):
        choose_thresholds(np.zeros((2, 3)), np.zeros((2, 2), dtype=bool))
