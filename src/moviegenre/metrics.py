"""Scores of predicted probabilities against true labels: accuracy, F1s, top-k, per class.

Pure functions over arrays, shared by training (model selection) and evaluation (reports).
Genre sets (several genres per row, ``multilabel.py``) get their own scores: micro-, macro-
and samples-F1, Jaccard, Hamming loss of the assigned genres, and hit@k of the ranking
(:func:`multi_label_score`); a single-label model on such rows is scored by hit@k only
(:func:`hit_rates`), since it assigns one genre per row by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError
from moviegenre.multilabel import as_sets, decide, indicator, is_multi_label


def top_k_accuracy(
    y_true: Sequence[str], proba: np.ndarray, genres: Sequence[str], k: int
) -> float:
    """Share of rows whose true label is among the ``k`` most probable columns.

    sklearn's ``top_k_accuracy_score`` gives the same number on the rows it accepts (a test
    compares them), but it raises for a label the model does not know (here: a miss), for
    genres not in sorted order and for a model of two genres, and it breaks ties toward the
    later column; here ties go to the earlier column, as in the genres ``predict`` shows.
    """
    index = {g: i for i, g in enumerate(genres)}
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    hits = [index.get(y, -1) in row for y, row in zip(y_true, top, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def score(y_true: Sequence[str], proba: np.ndarray, genres: Sequence[str]) -> dict[str, Any]:
    """All headline metrics plus a per-class table and the confusion matrix.

    Labels that the model does not know still count (always wrong), and appear in the
    per-class table with zero recall, so a mismatch of taxonomies cannot inflate the score.
    """
    from sklearn.metrics import (  # here, not at the top: predicting never needs sklearn
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    if len(y_true) != len(proba):
        raise ConfigError(f"{len(y_true)} labels but {len(proba)} rows of probabilities")
    if len(y_true) == 0:
        raise ConfigError("cannot score an empty set of predictions")
    genres = list(genres)
    y_true = [str(y) for y in y_true]
    y_pred = [genres[i] for i in np.argmax(proba, axis=1)]
    labels = genres + sorted(set(y_true) - set(genres))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    present = sorted(set(y_true) | set(y_pred))
    return {
        "rows": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)
        ),
        "top3_accuracy": top_k_accuracy(y_true, proba, genres, min(3, len(genres))),
        "per_class": {
            label: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def hit_rates(
    label_sets: Sequence[Sequence[str]], proba: np.ndarray, genres: Sequence[str]
) -> dict[str, Any]:
    """hit@1 and hit@3: the share of rows where one of the ``k`` most probable genres is one
    of the row's true genres (ties to the earlier column, as ``predict`` ranks)."""
    if len(label_sets) != len(proba):
        raise ConfigError(f"{len(label_sets)} genre sets but {len(proba)} rows of probabilities")
    if len(label_sets) == 0:
        raise ConfigError("cannot score an empty set of predictions")
    truth = indicator(label_sets, genres)
    order = np.argsort(-np.asarray(proba), axis=1, kind="stable")
    out: dict[str, Any] = {"rows": len(label_sets)}
    for k in (1, 3):
        top = order[:, : min(k, len(genres))]
        out[f"hit_at_{k}"] = float(np.mean(np.take_along_axis(truth, top, axis=1).any(axis=1)))
    out["label_cardinality"] = float(np.mean([len(set(s)) for s in label_sets]))
    return out


def multi_label_score(
    label_sets: Sequence[Sequence[str]],
    proba: np.ndarray,
    genres: Sequence[str],
    thresholds: np.ndarray,
) -> dict[str, Any]:
    """The multi-label scores of the genres assigned at ``thresholds`` (``multilabel.decide``:
    at least the top genre per row) against each row's true set, plus :func:`hit_rates`.

    Genres the model does not know still count as true genres it always misses, so a
    mismatch of taxonomies cannot inflate the scores. Macro-F1 averages the genres that are
    true or assigned somewhere (a genre absent from both says nothing).
    """
    from sklearn.metrics import f1_score, hamming_loss, jaccard_score
    from sklearn.metrics import precision_recall_fscore_support as prfs

    out = hit_rates(label_sets, proba, genres)
    labels = list(genres) + sorted({g for s in label_sets for g in s} - set(genres))
    truth = indicator(label_sets, labels)
    chosen = np.zeros_like(truth)
    chosen[:, : len(genres)] = decide(proba, thresholds)
    present = np.flatnonzero(truth.any(axis=0) | chosen.any(axis=0))
    precision, recall, f1, support = prfs(truth, chosen, zero_division=0)
    out.update(
        {
            "micro_f1": float(f1_score(truth, chosen, average="micro", zero_division=0)),
            "macro_f1": float(
                f1_score(truth, chosen, labels=present, average="macro", zero_division=0)
            ),
            "samples_f1": float(f1_score(truth, chosen, average="samples", zero_division=0)),
            "jaccard": float(jaccard_score(truth, chosen, average="samples", zero_division=0)),
            "hamming_loss": float(hamming_loss(truth, chosen)),
            "predicted_cardinality": float(chosen.sum(axis=1).mean()),
            "per_class": {
                label: {
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                    "support": int(n),
                }
                for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
            },
            "labels": labels,
        }
    )
    return out


def score_any(
    y_true: Sequence[Any],
    proba: np.ndarray,
    genres: Sequence[str],
    thresholds: np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`score` for one genre per row; for genre sets, :func:`multi_label_score` at
    ``thresholds`` (None: hit@k only, what a single-label model can be scored by)."""
    if not is_multi_label(y_true):
        return score(y_true, proba, genres)
    if thresholds is None:
        return hit_rates(as_sets(y_true), proba, genres)
    return multi_label_score(as_sets(y_true), proba, genres, thresholds)


#: The scalar multi-label scores, in the order tables show them.
MULTI_LABEL_KEYS = (
    "micro_f1", "macro_f1", "samples_f1", "jaccard", "hamming_loss", "hit_at_1", "hit_at_3",
    "label_cardinality", "predicted_cardinality",
)  # fmt: skip


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """Just the scalar metrics (for model.json and tables)."""
    keys = ("rows", "accuracy", "macro_f1", "weighted_f1", "top3_accuracy", *MULTI_LABEL_KEYS,
            "per_second")  # fmt: skip
    return {k: metrics[k] for k in dict.fromkeys(keys) if k in metrics}


def selection_score(metrics: dict[str, Any]) -> float:
    """What model selection maximises: the mean of accuracy and macro-F1.

    Accuracy alone favours the three big genres; macro-F1 alone sacrifices them. Users want
    both, and the project's targets are stated in both. For genre sets, micro-F1 takes the
    place of accuracy (the share of all true genres and assignments that agree).
    """
    first = metrics["accuracy"] if "accuracy" in metrics else metrics["micro_f1"]
    return (first + metrics["macro_f1"]) / 2
