"""Conformal genre sets: the smallest set of genres that holds the true one at a chosen rate.

Split conformal prediction with adaptive prediction sets (APS: Romano, Sesia & Candès,
"Classification with Valid and Adaptive Coverage", NeurIPS 2020) and its regularised form
(RAPS: Angelopoulos, Bates, Malik & Jordan, "Uncertainty Sets for Image Classifiers using
Conformal Prediction", ICLR 2021). The score is deterministic (the papers' randomised score
with u = 0): the probability mass ranked above the true genre (+ RAPS's rank penalty). The top
genre always scores 0, so sets are never empty and reproducible.

Coverage is marginal: over texts drawn like the rows the scores came from (the training data),
at least ``coverage`` of the sets hold the true genre; it is not a promise for each text or
each genre. ``class_conditional=True`` (Mondrian conformal: one threshold per true genre) gives
the rate per genre, at the price of larger sets for rare genres.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError, ModelFileError

METHODS = ("aps", "raps")
#: Most scores a model.json may hold (the full IMDb training file has 54,214 rows).
MAX_SCORES = 2_000_000
#: Scores are stored rounded up to this many decimals (smaller files; rounding up is conservative).
DECIMALS = 6
#: The score that ``train`` stores. Its scores come from fold (or pre-refit) models, whose
#: probabilities are less sharp than the final model's (linear on the IMDb sample: decision
#: scores spread 1.26x wider after the refit), so plain APS under-covers by 4-7 points there;
#: the rank of the true genre carries over (out-of-fold top-3 0.773, test 0.767). RAPS with a
#: penalty of 1 per rank orders rows by that rank first and by the mass above second
#: (benchmarks/conformal.py). ``calibrate`` scores rows with the final model itself: plain APS.
#: (Why: linear fits its vectorizer on all rows, so held-out rows keep dead features that
#: shrink their out-of-fold scores; see benchmarks/RESULTS.md, "Conformal genre sets".)
TRAINING_SCORE: dict[str, Any] = {"method": "raps", "lam": 1.0, "k_reg": 0}
#: The fix named when a model has no scores.
HOW_TO_ADD = (
    "retrain it with `moviegenre train`, or add scores with `moviegenre calibrate --model DIR "
    "--data LABELLED_FILE` on labelled rows the model did not train on"
)


def check_coverage(coverage: Any) -> float:
    """``coverage`` as a float strictly between 0 and 1, else one clear ConfigError."""
    if isinstance(coverage, bool) or not isinstance(coverage, Real):
        raise ConfigError(f"coverage must be a number between 0 and 1, got {coverage!r}")
    value = float(coverage)
    if not (math.isfinite(value) and 0 < value < 1):
        raise ConfigError(f"coverage must be strictly between 0 and 1 (e.g. 0.9), got {value}")
    return value


def _ranked(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column order by falling probability (ties: lower column first) and each column's rank."""
    order = np.argsort(-proba, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(proba.shape[1])[None, :], axis=1)
    return order, ranks


def score_matrix(
    proba: np.ndarray, method: str = "aps", lam: float = 0.0, k_reg: int = 0
) -> np.ndarray:
    """Every genre's conformity score for each row: mass ranked above it (+ RAPS penalty).

    A genre is in a row's set exactly when its score is at most the threshold, so the set is
    the top of the ranking, and the top genre (score 0) is always in it.
    """
    proba = np.asarray(proba, dtype=np.float64)
    order, ranks = _ranked(proba)
    sorted_p = np.take_along_axis(proba, order, axis=1)
    if method == "raps":
        sorted_p = sorted_p + lam * (np.arange(proba.shape[1]) >= k_reg)[None, :]
    above = np.cumsum(sorted_p, axis=1) - sorted_p  # mass strictly above each rank
    return np.take_along_axis(above, ranks, axis=1)


def _quantile(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) * coverage)-th smallest score; +inf when n is too small for it."""
    n = len(scores)
    k = math.ceil((n + 1) * coverage - 1e-9)
    if k > n:
        return math.inf
    return float(np.partition(scores, k - 1)[k - 1])


@dataclass(frozen=True)
class ConformalScores:
    """Conformity scores of held-out labelled rows: what a model needs to answer with sets."""

    method: str
    scores: np.ndarray  # float64, one per calibration row
    labels: np.ndarray  # int64, the true genre's column of each row
    n_genres: int
    lam: float = 0.0
    k_reg: int = 0

    @classmethod
    def from_proba(
        cls,
        proba: np.ndarray,
        labels: Sequence[Any],
        genres: Sequence[Any],
        *,
        method: str = "aps",
        lam: float = 0.01,
        k_reg: int = 3,
    ) -> ConformalScores:
        """Scores of rows the model did not train on: ``proba`` (columns in ``genres`` order)
        and their true ``labels``. Rows whose label the model does not know are refused."""
        if method not in METHODS:
            raise ConfigError(f"conformal method {method!r} is unknown; use one of {METHODS}")
        proba = np.asarray(proba, dtype=np.float64)
        column = {str(g): j for j, g in enumerate(genres)}
        unknown = sorted({str(y) for y in labels} - set(column))
        if unknown:
            raise ConfigError(
                f"the calibration rows have labels the model does not know: {', '.join(unknown)}"
            )
        if proba.ndim != 2 or proba.shape != (len(labels), len(genres)) or not len(labels):
            raise ConfigError(
                f"need one probability row per label ({len(labels)}) and one column per genre "
                f"({len(genres)}), got shape {proba.shape}"
            )
        idx = np.array([column[str(y)] for y in labels], dtype=np.int64)
        if method == "aps":
            lam, k_reg = 0.0, 0
        raw = score_matrix(proba, method, lam, k_reg)[np.arange(len(idx)), idx]
        scores = np.ceil(np.round(raw * 10**DECIMALS, 3)) / 10**DECIMALS
        return cls(method, scores, idx, len(genres), float(lam), int(k_reg))

    def __len__(self) -> int:
        return len(self.scores)

    def thresholds(self, coverage: float, class_conditional: bool = False) -> np.ndarray:
        """One threshold per genre: the same for all (marginal), or per true genre (Mondrian)."""
        coverage = check_coverage(coverage)
        if not class_conditional:
            return np.full(self.n_genres, _quantile(self.scores, coverage))
        return np.array(
            [_quantile(self.scores[self.labels == j], coverage) for j in range(self.n_genres)]
        )

    def sets(
        self, proba: np.ndarray, coverage: float, class_conditional: bool = False
    ) -> list[np.ndarray]:
        """Each row's set as column indices, most probable first; never empty."""
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape[1] != self.n_genres:
            raise ConfigError(f"expected {self.n_genres} probability columns, got {proba.shape}")
        limits = self.thresholds(coverage, class_conditional)
        inside = score_matrix(proba, self.method, self.lam, self.k_reg) <= limits[None, :]
        order, _ = _ranked(proba)
        inside[np.arange(len(proba)), order[:, 0]] = True
        return [row[keep[row]] for row, keep in zip(order, inside, strict=True)]

    # -- model.json ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "n": len(self)}
        if self.method == "raps":
            out |= {"lambda": self.lam, "k_reg": self.k_reg}
        out["scores"] = [float(s) for s in self.scores]
        out["labels"] = [int(y) for y in self.labels]
        return out

    @classmethod
    def from_json(cls, raw: Any, n_genres: int, where: str = "model.json") -> ConformalScores:
        """Validate the ``conformal`` entry of a model file; one ModelFileError line if bad."""

        def bad(problem: str) -> ModelFileError:
            return ModelFileError(
                f"{where}: the 'conformal' entry is invalid ({problem}); {HOW_TO_ADD}"
            )

        if not isinstance(raw, Mapping):
            raise bad("it must be an object")
        allowed = {"method", "n", "scores", "labels", "lambda", "k_reg"}
        extra = sorted(set(raw) - allowed)
        if extra:
            raise bad(f"unknown keys {', '.join(map(str, extra))}")
        method = raw.get("method")
        if method not in METHODS:
            raise bad(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        n, scores, labels = raw.get("n"), raw.get("scores"), raw.get("labels")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SCORES:
            raise bad(f"n must be an integer from 1 to {MAX_SCORES}, got {n!r}")
        if not isinstance(scores, list) or not isinstance(labels, list):
            raise bad("scores and labels must be lists")
        if not len(scores) == len(labels) == n:
            raise bad(f"n is {n} but there are {len(scores)} scores and {len(labels)} labels")
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores):
            raise bad("every score must be a number")
        values = np.array(scores, dtype=np.float64)
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise bad("every score must be a finite number >= 0")
        if not all(isinstance(y, int) and not isinstance(y, bool) for y in labels):
            raise bad("every label must be an integer genre index")
        idx = np.array(labels, dtype=np.int64)
        if np.any(idx < 0) or np.any(idx >= n_genres):
            raise bad(f"every label must be a genre index from 0 to {n_genres - 1}")
        lam, k_reg = raw.get("lambda", 0.0), raw.get("k_reg", 0)
        if method == "raps":
            if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam < 1e3:
                raise bad(f"lambda must be a number >= 0, got {lam!r}")
            if isinstance(k_reg, bool) or not isinstance(k_reg, Integral) or k_reg < 0:
                raise bad(f"k_reg must be an integer >= 0, got {k_reg!r}")
        elif "lambda" in raw or "k_reg" in raw:
            raise bad("lambda and k_reg belong to method 'raps' only")
        return cls(method, values, idx, n_genres, float(lam), int(k_reg))
