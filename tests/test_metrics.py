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
