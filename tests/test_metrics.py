"""Metrics over probability matrices."""

from __future__ import annotations

import numpy as np
import pytest

from moviegenre.errors import ConfigError
from moviegenre.metrics import headline, score, selection_score, top_k_accuracy

GENRES = ["comedy", "drama", "horror"]
PROBA = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]])


def test_score_headline_numbers():
    m = score(["comedy", "drama", "drama", "horror"], PROBA, GENRES)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["top3_accuracy"] == 1.0 and m["rows"] == 4
    assert m["per_class"]["drama"]["support"] == 2
    assert np.array(m["confusion"]).sum() == 4
    assert set(headline(m)) == {"rows", "accuracy", "macro_f1", "weighted_f1", "top3_accuracy"}
    assert selection_score(m) == pytest.approx((m["accuracy"] + m["macro_f1"]) / 2)


def test_unknown_true_label_counts_as_wrong():
    m = score(["comedy", "western", "drama", "comedy"], PROBA, GENRES)
    assert m["accuracy"] == 0.75 and m["per_class"]["western"]["recall"] == 0.0
    assert m["labels"][-1] == "western"


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 0.75), (3, 1.0)])
def test_top_k_accuracy(k, expected):
    assert top_k_accuracy(["drama", "drama", "horror", "horror"], PROBA, GENRES, k) == expected


@pytest.mark.parametrize(
    ("labels", "proba", "message"),
    [(["comedy"], PROBA, "1 labels but 4 rows"), ([], np.zeros((0, 3)), "empty set")],
)
def test_score_refuses_bad_input(labels, proba, message):
    with pytest.raises(ConfigError, match=message):
        score(labels, proba, GENRES)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_sklearn(k):
    """The hand-written top-k (kept for unknown labels and two-genre models) is sklearn's."""
    from sklearn.metrics import top_k_accuracy_score

    rng = np.random.default_rng(0)
    genres = ["action", "comedy", "drama", "horror", "thriller", "western"]  # sklearn: sorted
    proba = rng.dirichlet(np.ones(len(genres)), size=200)  # no ties
    y_true = list(rng.choice(genres, size=200))
    want = top_k_accuracy_score(y_true, proba, k=k, labels=genres)
    assert top_k_accuracy(y_true, proba, genres, k) == pytest.approx(want)


# -- several genres per film (issue 22) ------------------------------------------------------

SETS = [("action", "drama"), ("drama",), ("comedy", "war")]
ML_GENRES = ["action", "comedy", "drama"]
ML_PROBA = np.array([[0.9, 0.1, 0.6], [0.2, 0.7, 0.4], [0.1, 0.8, 0.3]])


def test_multi_label_scores_against_a_hand_count():
    from moviegenre.metrics import multi_label_score

    m = multi_label_score(SETS, ML_PROBA, ML_GENRES, np.full(3, 0.5))
    # assigned: {action, drama}, {comedy}, {comedy}; "war" is unknown: always missed
    # pairs: tp 3 (action, drama, comedy), fp 1 (comedy row 2), fn 2 (drama row 2, war)
    assert m["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert m["samples_f1"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert m["jaccard"] == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert m["hamming_loss"] == pytest.approx(3 / 12)
    assert m["hit_at_1"] == pytest.approx(2 / 3) and m["hit_at_3"] == 1.0
    assert m["per_class"]["war"]["support"] == 1 and m["per_class"]["war"]["recall"] == 0
    # macro over the genres true or assigned somewhere: action 1, comedy 2/3, drama 2/3, war 0
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 0) / 4)
    assert selection_score(m) == pytest.approx((m["micro_f1"] + m["macro_f1"]) / 2)
    assert {"micro_f1", "hamming_loss", "hit_at_3"} <= set(headline(m))


def test_score_any_gives_hit_rates_without_thresholds():
    from moviegenre.metrics import score_any

    hits = score_any(SETS, ML_PROBA, ML_GENRES)
    assert set(hits) == {"rows", "hit_at_1", "hit_at_3", "label_cardinality"}
    assert hits["label_cardinality"] == pytest.approx(5 / 3)
    assert score_any(["drama", "comedy"], ML_PROBA[:2], ML_GENRES) == score(
        ["drama", "comedy"], ML_PROBA[:2], ML_GENRES
    )


def test_hit_rates_refuse_mismatched_rows():
    from moviegenre.metrics import hit_rates

    with pytest.raises(ConfigError, match="3 genre sets but 2 rows"):
        hit_rates(SETS, ML_PROBA[:2], ML_GENRES)
