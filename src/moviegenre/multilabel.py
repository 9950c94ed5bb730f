"""Several genres per film: genre sets, indicator matrices and decision thresholds.

A multi-label label is a tuple of genre names (``GenreSet``); a single label is a set of one.
A multi-label model's ``predict_proba`` gives one independent probability per genre (rows do
not sum to 1), and the genres it assigns are those at or above their decision thresholds,
at least the most probable one. Thresholds are chosen on held-out (out-of-fold or
cross-fitted) predictions of the training rows, never on test data: per genre where the
genre has enough positives to estimate an F1 curve, one global threshold otherwise.

Pure functions over arrays, below models, training and the classifier alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError

#: One film's genres, in the order the data gave them (duplicates removed).
GenreSet = tuple[str, ...]
#: A genre with fewer held-out positives than this gets the global threshold: an F1 curve
#: from a handful of positives picks a threshold that fits those few rows, not the genre.
MIN_POSITIVES = 10
#: Thresholds tried: a fine grid where calibrated probabilities of rare genres live.
THRESHOLD_GRID = np.round(
    np.concatenate([np.arange(0.02, 0.1, 0.01), np.arange(0.1, 0.95, 0.025)]), 3
)


def is_multi_label(labels: Sequence[Any]) -> bool:
    """Whether ``labels`` are genre sets (tuples/lists) rather than one string per row."""
    return any(not isinstance(label, str) for label in labels)


def as_sets(labels: Sequence[Any]) -> list[GenreSet]:
    """Every label as a genre set: a string becomes a set of one, a list a tuple."""
    return [(label,) if isinstance(label, str) else tuple(label) for label in labels]


def indicator(label_sets: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """The (rows x classes) boolean matrix of ``label_sets``; unknown genres are ignored
    (a caller that must refuse them checks first with :func:`unknown_genres`)."""
    column = {g: j for j, g in enumerate(classes)}
    out = np.zeros((len(label_sets), len(classes)), dtype=bool)
    for i, genres in enumerate(label_sets):
        for g in genres:
            j = column.get(g)
            if j is not None:
                out[i, j] = True
    return out


def unknown_genres(label_sets: Sequence[Sequence[str]], classes: Sequence[str]) -> list[str]:
    """Genres in ``label_sets`` that ``classes`` lacks, sorted."""
    known = set(classes)
    return sorted({g for genres in label_sets for g in genres if g not in known})


def _f1_curve(scores: np.ndarray, truth: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """F1 of ``scores >= t`` against ``truth`` for each ``t`` of ``grid`` (columns pooled)."""
    predicted = scores.ravel()[None, :] >= grid[:, None]
    true = truth.ravel()[None, :]
    tp = np.sum(predicted & true, axis=1)
    fp = np.sum(predicted & ~true, axis=1)
    fn = np.sum(~predicted & true, axis=1)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def choose_thresholds(
    proba: np.ndarray,
    truth: np.ndarray,
    min_positives: int = MIN_POSITIVES,
    grid: np.ndarray = THRESHOLD_GRID,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-genre thresholds that maximise each genre's F1 on held-out ``proba``.

    Returns ``(thresholds, per_genre)``: ``per_genre[j]`` is False where genre ``j`` had
    fewer than ``min_positives`` held-out positives and got the one global threshold that
    maximises micro-F1 over all genres instead. Ties go to the lower threshold.
    """
    proba = np.asarray(proba, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    if proba.shape != truth.shape or proba.ndim != 2:
        raise ConfigError(f"probabilities {proba.shape} and genre sets {truth.shape} differ")
    if len(proba) == 0:
        raise ConfigError("cannot choose thresholds on zero held-out rows")
    global_t = float(grid[int(np.argmax(_f1_curve(proba, truth, grid)))])
    positives = truth.sum(axis=0)
    per_genre = positives >= min_positives
    thresholds = np.full(proba.shape[1], global_t)
    for j in np.flatnonzero(per_genre):
        thresholds[j] = float(grid[int(np.argmax(_f1_curve(proba[:, j], truth[:, j], grid)))])
    return thresholds, per_genre


def decide(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The assigned genres as a boolean matrix: probability >= threshold, and at least the
    most probable genre of each row (a film has some genre)."""
    proba = np.asarray(proba, dtype=float)
    chosen = proba >= np.asarray(thresholds, dtype=float)[None, :]
    if len(proba):
        chosen[np.arange(len(proba)), np.argmax(proba, axis=1)] = True
    return chosen


def heldout_micro_f1(proba: np.ndarray, truth: np.ndarray) -> float:
    """Micro-F1 of the genres :func:`decide` assigns at thresholds chosen on these same rows
    (:func:`choose_thresholds`): how well a multi-label model's held-out probabilities can be
    turned into genre sets, the way training will turn them. A score to compare candidates
    (epochs, blend weights) on one validation slice, optimistic as an estimate of test F1."""
    truth = np.asarray(truth, dtype=bool)
    chosen = decide(proba, choose_thresholds(proba, truth)[0])
    tp = int(np.sum(chosen & truth))
    wrong = int(np.sum(chosen ^ truth))
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0
