"""Genre sets, indicator matrices and decision thresholds (multilabel.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.multilabel import (
    MAX_RISK_ROWS,
    LabelRule,
    as_sets,
    check_recall,
    choose_thresholds,
    decide,
    decide_sets,
    indicator,
    is_multi_label,
    risk_threshold,
    true_genre_probabilities,
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


# -- conformal risk control (recall sets) ---------------------------------------------------


def _brute_force_threshold(values, sizes, recall):
    """The CRC threshold by definition: the largest t among the values (or 0) whose
    n/(n+1) * FNR(t) + 1/(n+1) <= 1 - recall, FNR(t) by a loop over the rows."""
    n, alpha = len(sizes), 1 - recall
    rows = np.split(values, np.cumsum(sizes)[:-1])

    def fnr(t):
        return np.mean([np.mean(row < t) for row in rows])

    ok = [t for t in sorted(set(values)) if n / (n + 1) * fnr(t) + 1 / (n + 1) <= alpha + 1e-12]
    return max(ok) if ok else 0.0


@pytest.mark.parametrize("recall", [0.5, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("seed", [0, 1])
def test_risk_threshold_is_the_crc_definition(recall, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, 60)
    values = np.round(rng.random(int(sizes.sum())), 3)
    assert risk_threshold(values, sizes, recall) == _brute_force_threshold(values, sizes, recall)


def test_risk_threshold_gives_every_genre_when_too_few_rows():
    # alpha = 0.05 needs n >= 19 rows; with 5 even the full sets cannot vouch for it
    assert risk_threshold(np.full(5, 0.9), np.ones(5, dtype=int), 0.95) == 0.0


def test_recall_sets_reach_the_asked_recall_on_new_rows():
    """The guarantee on simulated calibrated probabilities: the mean recall of new rows'
    sets is at or just above the target (CRC is tight for exchangeable rows)."""
    rng = np.random.default_rng(0)

    def draw(n):
        proba = rng.beta(0.6, 3.0, (n, 12))
        return proba, rng.random((n, 12)) < proba

    proba, truth = draw(3000)
    values, sizes = true_genre_probabilities(proba, truth)
    new_proba, new_truth = draw(4000)
    keep = new_truth.any(axis=1)
    for recall in (0.8, 0.9):
        chosen = decide_sets(new_proba, risk_threshold(values, sizes, recall))
        achieved = ((chosen & new_truth).sum(axis=1)[keep] / new_truth.sum(axis=1)[keep]).mean()
        assert recall - 0.015 <= achieved <= recall + 0.03


def test_true_genre_probabilities_keep_rows_with_a_genre_rounded_down():
    proba = np.array([[0.1234567, 0.9], [0.5, 0.5], [0.3, 0.7]])
    truth = np.array([[True, True], [False, False], [False, True]])
    values, sizes = true_genre_probabilities(proba, truth)
    assert values.tolist() == [0.123456, 0.9, 0.7] and sizes.tolist() == [2, 1]


def test_true_genre_probabilities_sample_beyond_the_cap():
    n = MAX_RISK_ROWS + 50
    values, sizes = true_genre_probabilities(np.full((n, 2), 0.5), np.ones((n, 2), dtype=bool))
    assert len(sizes) == MAX_RISK_ROWS and len(values) == 2 * MAX_RISK_ROWS


@pytest.mark.parametrize("recall", [0, 1, 1.5, -0.1, "0.9", True, None, float("nan")])
def test_bad_recall_is_refused(recall):
    with pytest.raises(ConfigError, match="recall must be a number between 0 and 1"):
        check_recall(recall)


# -- LabelRule: thresholds + recall data, stored in model.json -------------------------------

GENRES = ["action", "drama", "war"]


@pytest.fixture
def rule():
    rng = np.random.default_rng(1)
    truth = rng.random((200, 3)) < [0.5, 0.4, 0.02]
    truth[0, 2] = True
    proba = np.clip(truth * 0.5 + rng.random((200, 3)) * 0.5, 0, 1)
    return LabelRule.fit(proba, truth)


def test_a_rule_round_trips_through_json(rule):
    back = LabelRule.from_json(rule.to_json(GENRES), GENRES)
    assert back.thresholds.tolist() == rule.thresholds.tolist()
    assert back.per_genre.tolist() == rule.per_genre.tolist() == [True, True, False]
    assert back.values.tolist() == rule.values.tolist()
    assert back.sizes.tolist() == rule.sizes.tolist()
    assert back.recall_threshold(0.9) == rule.recall_threshold(0.9)
    assert "war" in rule.describe(GENRES) and "global threshold" in rule.describe(GENRES)


def _broken(entry, key, value):
    raw = entry.to_json(GENRES)
    if key.startswith("risk_control."):
        raw["risk_control"][key.split(".")[1]] = value
    else:
        raw[key] = value
    return raw


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("thresholds", {"action": 0.5}, "must map each of the model's genres"),
        ("thresholds", {"action": 0.5, "drama": 2.0, "war": 0.5}, "in \\[0, 1\\]"),
        ("thresholds", {"action": 0.5, "drama": "x", "war": 0.5}, "in \\[0, 1\\]"),
        ("per_genre", ["horror"], "must list genres of the model"),
        ("global_threshold", -1, "global_threshold"),
        ("risk_control", "all", "must hold lists"),
        ("risk_control.values", [2.0], "probability in"),
        ("risk_control.sizes", [0], "whole number from 1 to 3"),
        ("risk_control.sizes", [1.5], "whole number from 1 to 3"),
        ("risk_control.sizes", [1], "add up to 1 but there are"),
    ],
)
def test_a_damaged_rule_is_refused_in_one_line(rule, key, value, message):
    with pytest.raises(ModelFileError, match=message):
        LabelRule.from_json(_broken(rule, key, value), GENRES)


def test_a_rule_without_recall_data_refuses_recall_sets():
    with pytest.raises(ConfigError, match="cannot give recall sets"):
        LabelRule.fixed(3).recall_threshold(0.9)
