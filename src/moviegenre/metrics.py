"""Scores of predicted probabilities against true labels: accuracy, F1s, top-k, per class.

Pure functions over arrays, shared by training (model selection) and evaluation (reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError


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


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """Just the scalar metrics (for model.json and tables)."""
    keys = ("rows", "accuracy", "macro_f1", "weighted_f1", "top3_accuracy", "per_second")
    return {k: metrics[k] for k in keys if k in metrics}


def selection_score(metrics: dict[str, Any]) -> float:
    """What model selection maximises: the mean of accuracy and macro-F1.

    Accuracy alone favours the three big genres; macro-F1 alone sacrifices them. Users want
    both, and the project's targets are stated in both.
    """
    return (metrics["accuracy"] + metrics["macro_f1"]) / 2
