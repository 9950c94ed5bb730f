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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError, ModelFileError

#: One film's genres, in the order the data gave them (duplicates removed).
GenreSet = tuple[str, ...]
#: A genre with fewer held-out positives than this gets the global threshold: an F1 curve
#: from a handful of positives picks a threshold that fits those few rows, not the genre.
MIN_POSITIVES = 10
#: Thresholds tried: a fine grid where calibrated probabilities of rare genres live.
THRESHOLD_GRID = np.round(
    np.concatenate([np.arange(0.02, 0.1, 0.01), np.arange(0.1, 0.95, 0.025)]), 3
)
#: Held-out rows kept for recall sets: a seeded sample beyond this keeps model.json small
#: (about 25 bytes per row) at no cost to the guarantee (a random subset is still exchangeable).
MAX_RISK_ROWS = 20_000


def is_multi_label(labels: Sequence[Any]) -> bool:
    """Whether ``labels`` are genre sets (tuples/lists) rather than one label per row (a
    string, or a class index as some callers pass)."""
    return any(isinstance(label, tuple | list) for label in labels)


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


def check_recall(recall: Any) -> float:
    """``recall`` as a float in (0, 1), else one ConfigError naming the valid range."""
    if isinstance(recall, bool) or not isinstance(recall, int | float) or not 0 < float(recall) < 1:
        raise ConfigError(f"recall must be a number between 0 and 1 (e.g. 0.9), got {recall!r}")
    return float(recall)


def true_genre_probabilities(proba: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What conformal risk control keeps of held-out rows: the probabilities of each row's
    true genres (flat, row after row) and how many true genres each row has.

    The false-negative rate of a row's set ``{genres with p >= t}`` depends on nothing else,
    so these are enough to calibrate a set at any recall later. Rows without a known genre
    carry no risk and are dropped; beyond :data:`MAX_RISK_ROWS` a seeded random sample is kept.
    Probabilities are rounded down to 6 decimals: a lower stored score can only lower the
    threshold, so the sets stay conservative.
    """
    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    sizes = truth.sum(axis=1)
    keep = np.flatnonzero(sizes > 0)
    if len(keep) > MAX_RISK_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(keep, MAX_RISK_ROWS, replace=False))
    values = np.floor(proba[keep][truth[keep]] * 1e6) / 1e6
    return values, sizes[keep].astype(np.int64)


def risk_threshold(values: np.ndarray, sizes: np.ndarray, recall: float) -> float:
    """The conformal risk control threshold (Angelopoulos et al. 2022, "Conformal Risk
    Control") for the false-negative rate of the sets ``{genres with p >= t}``.

    With ``n`` calibration rows, loss bound B = 1 and alpha = 1 - recall, the largest ``t``
    (the smallest sets) with ``n/(n+1) * FNR(t) + 1/(n+1) <= alpha``, where FNR(t) is the
    mean over rows of the share of a row's true genres with ``p < t``. Larger sets lower the
    loss, so the CRC parameter lambda is ``1 - t`` here. On new rows exchangeable with the
    calibration rows the expected share of true genres missed is then at most alpha. When
    even the largest sets cannot reach it (too few rows), t = 0: every genre.
    """
    recall = check_recall(recall)
    n = len(sizes)
    if n == 0:
        raise ConfigError("recall sets need calibration rows with at least one known genre")
    alpha = 1 - recall
    budget = (alpha * (n + 1) - 1) / n  # the largest mean FNR allowed
    if budget < 0:
        return 0.0
    weights = np.repeat(1.0 / (sizes * n), sizes)  # each true genre's share of the mean FNR
    order = np.argsort(values, kind="stable")
    ordered, weight = values[order], weights[order]
    # FNR(t) at t = ordered[i]: the weights of values strictly below it
    below = np.concatenate([[0.0], np.cumsum(weight)])[
        np.searchsorted(ordered, ordered, side="left")
    ]
    feasible = np.flatnonzero(below <= budget + 1e-12)
    return float(ordered[feasible[-1]])


def decide_sets(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Recall-controlled sets as a boolean matrix: ``p >= threshold``, at least the top genre
    (adding a genre can only lower the false-negative rate, so the bound still holds)."""
    return decide(proba, np.full(np.shape(proba)[1], float(threshold)))


@dataclass(frozen=True)
class LabelRule:
    """How a multi-label model turns probabilities into genres: per-genre decision
    thresholds (chosen on held-out predictions of the training rows; ``per_genre[j]`` False
    where genre j had too few positives and got the ``global_threshold``), plus what
    conformal risk control needs for recall sets (the true genres' held-out probabilities,
    ``values``, and each row's count of true genres, ``sizes``; empty: no recall sets).

    Stored in model.json under ``"multi_label"``; read back as untrusted input.
    """

    thresholds: np.ndarray
    per_genre: np.ndarray
    global_threshold: float
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def fit(cls, proba: np.ndarray, truth: np.ndarray) -> LabelRule:
        """Thresholds and risk-control data from held-out ``proba`` and true ``truth``."""
        thresholds, per_genre = choose_thresholds(proba, truth)
        values, sizes = true_genre_probabilities(proba, truth)
        return cls(thresholds, per_genre, _global(proba, truth), values, sizes)

    @classmethod
    def fixed(cls, n_genres: int, threshold: float = 0.5) -> LabelRule:
        """One threshold for every genre and no recall sets (a model saved without a rule)."""
        return cls(np.full(n_genres, threshold), np.zeros(n_genres, dtype=bool), threshold)

    @property
    def calibrated(self) -> bool:
        return len(self.sizes) > 0

    def decide(self, proba: np.ndarray) -> np.ndarray:
        return decide(proba, self.thresholds)

    def recall_threshold(self, recall: float) -> float:
        if not self.calibrated:
            raise ConfigError(
                "this multi-label model holds no held-out predictions, so it cannot give "
                "recall sets; train it with moviegenre train (which keeps them)"
            )
        return risk_threshold(self.values, self.sizes, recall)

    def describe(self, genres: Sequence[str]) -> str:
        """One line: which genres have their own threshold and which share the global one."""
        own = [g for g, p in zip(genres, self.per_genre, strict=True) if p]
        shared = [g for g, p in zip(genres, self.per_genre, strict=True) if not p]
        text = f"per-genre F1-optimal thresholds on held-out predictions for {len(own)} genres"
        if shared:
            text += (
                f"; one global threshold {self.global_threshold:g} for {len(shared)} genres with "
                f"fewer than {MIN_POSITIVES} held-out positives ({', '.join(shared)})"
            )
        return text

    def to_json(self, genres: Sequence[str]) -> dict[str, Any]:
        return {
            "thresholds": {g: float(t) for g, t in zip(genres, self.thresholds, strict=True)},
            "per_genre": [g for g, p in zip(genres, self.per_genre, strict=True) if p],
            "global_threshold": self.global_threshold,
            "min_positives": MIN_POSITIVES,
            "risk_control": {
                "values": [float(v) for v in self.values],
                "sizes": [int(s) for s in self.sizes],
            },
        }

    @classmethod
    def from_json(cls, raw: Any, genres: Sequence[str], where: str = "model.json") -> LabelRule:
        """Validate the ``multi_label`` entry of a model file; one ModelFileError line if bad."""

        def bad(problem: str) -> ModelFileError:
            return ModelFileError(f"{where}: the 'multi_label' entry is invalid ({problem})")

        def probability(value: Any) -> bool:
            return (
                isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
            )

        if not isinstance(raw, dict):
            raise bad("it must be an object")
        thresholds, per_genre = raw.get("thresholds"), raw.get("per_genre")
        if not isinstance(thresholds, dict) or sorted(thresholds) != sorted(genres):
            raise bad("'thresholds' must map each of the model's genres to a threshold")
        if not all(probability(t) for t in thresholds.values()):
            raise bad("every threshold must be a number in [0, 1]")
        if not isinstance(per_genre, list) or not set(per_genre) <= set(genres):
            raise bad("'per_genre' must list genres of the model")
        global_t = raw.get("global_threshold")
        if not probability(global_t):
            raise bad("'global_threshold' must be a number in [0, 1]")
        risk = raw.get("risk_control", {"values": [], "sizes": []})
        values = risk.get("values") if isinstance(risk, dict) else None
        sizes = risk.get("sizes") if isinstance(risk, dict) else None
        if not isinstance(values, list) or not isinstance(sizes, list):
            raise bad("'risk_control' must hold lists 'values' and 'sizes'")
        if not all(probability(v) for v in values):
            raise bad("every risk_control value must be a probability in [0, 1]")
        if not all(type(s) is int and 1 <= s <= len(genres) for s in sizes):
            raise bad(f"every risk_control size must be a whole number from 1 to {len(genres)}")
        if sum(sizes) != len(values):
            raise bad(f"the sizes add up to {sum(sizes)} but there are {len(values)} values")
        return cls(
            np.array([float(thresholds[g]) for g in genres]),
            np.array([g in set(per_genre) for g in genres], dtype=bool),
            float(global_t),
            np.array(values, dtype=np.float64),
            np.array(sizes, dtype=np.int64),
        )


def _global(proba: np.ndarray, truth: np.ndarray) -> float:
    """The global threshold choose_thresholds would give (when every genre got its own)."""
    thresholds, _ = choose_thresholds(proba, truth, min_positives=len(proba) + 1)
    return float(thresholds[0])
