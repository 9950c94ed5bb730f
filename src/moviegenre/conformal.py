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


#: A set member under this share of the top genre's probability is "far below" it: then the
#: CLI and the web page say why the set holds it (:meth:`SetBasis.describe`).
FAR_BELOW = 0.1


def holds_far_below(probabilities: Sequence[float]) -> bool:
    """Whether a set (its members' probabilities, top first) holds a genre far below the top."""
    return len(probabilities) > 1 and min(probabilities) < FAR_BELOW * max(probabilities)


def rows_needed(coverage: float) -> int:
    """The fewest scores that give a finite quantile at ``coverage`` (9 at 0.9, 19 at 0.95)."""
    n = 1
    while math.ceil((n + 1) * coverage - 1e-9) > n:
        n += 1
    return n


@dataclass(frozen=True)
class SetBasis:
    """What the sets at one coverage rest on, from the stored conformity scores alone: how
    often the model's ranking held the true genre on the labelled rows it did not train on.

    ``top1`` is the share of those rows whose true genre was the model's first choice (its
    score is 0 under APS and RAPS alike). ``within[k - 1]`` is the share whose true genre was
    among its first k (known when the score is RAPS with ``k_reg`` 0 and ``lam`` >= 1: the
    score is then rank x lam + the mass above, so the rank can be read back); else None.
    """

    coverage: float
    method: str
    rows: int
    top1: float
    threshold: float
    lam: float
    k_reg: int
    n_genres: int
    within: tuple[float, ...] | None = None
    class_conditional: bool = False
    #: Genre columns with too few rows for a finite threshold: in every set (class-conditional).
    always: tuple[int, ...] = ()
    #: Fewest and most rows of one genre (class-conditional).
    genre_rows: tuple[int, int] = (0, 0)

    def size_range(self) -> tuple[int, int] | None:
        """Fewest and most genres a marginal RAPS set can hold (every text), else None."""
        if self.within is None or self.class_conditional:
            return None
        if math.isinf(self.threshold):
            return self.n_genres, self.n_genres
        ranks = self.threshold / self.lam  # rank r is in when r + mass above / lam <= that
        fewest = min(max(math.floor(ranks - 1 / self.lam) + 1, 1), self.n_genres)
        return fewest, min(math.floor(ranks) + 1, self.n_genres)

    def describe(self, genres: Sequence[str] | None = None) -> str:
        """Why the sets are as large as they are, in one paragraph of plain text."""
        held = (
            f"On {self.rows:,} labelled texts scored without having been trained on (held "
            f"out or out-of-fold: the conformity scores in model.json), the model's first "
            f"genre was right for {self.top1:.1%}"
        )
        goal = f"to hold the true genre for {self.coverage:.0%} of texts like those"
        if self.class_conditional:
            low, high = self.genre_rows
            text = (
                f"{held}. Per genre ({low:,} to {high:,} texts each), {goal} of each genre, "
                "a genre joins the set whenever this text scores like that genre's own texts, "
                "so genres the model often ranks low join many sets"
            )
            if self.always:
                names = ", ".join(genres[j] if genres else str(j) for j in self.always)
                text += (
                    f"; {len(self.always)} genres have fewer than {rows_needed(self.coverage)} "
                    f"texts, too few to bound, so they are in every set ({names})"
                )
            return text + "."
        sizes = self.size_range()
        if sizes is not None and self.within is not None:
            fewest, most = sizes
            tops = sorted({fewest, most} - {1})
            shares = ", ".join(f"its first {k} for {self.within[k - 1]:.1%}" for k in tops)
            if most == 1:
                return f"{held}. So, {goal}, every set is the model's first genre alone."
            count = f"{fewest}" if fewest == most else f"{fewest} or {most}"
            return (
                f"{held}{', ' + shares if shares else ''}. So, {goal}, every set keeps the "
                f"model's first {count} genres, however sure it is of the first one."
            )
        if self.method == "aps":
            return (
                f"{held}. So, {goal}, a set takes genres, most probable first, until those "
                f"already in it hold over {min(self.threshold, 1):.1%} of the probability."
            )
        return (
            f"{held}. So, {goal}, a genre is in the set while the probability above it plus "
            f"{self.lam:g} per rank from rank {self.k_reg + 1} is at most {self.threshold:.3f}."
        )


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

    def basis(self, coverage: float, class_conditional: bool = False) -> SetBasis:
        """What the sets at ``coverage`` rest on (see :class:`SetBasis`)."""
        limits = self.thresholds(coverage, class_conditional)
        within = None
        if self.method == "raps" and self.k_reg == 0 and self.lam >= 1:
            ranks = np.floor(self.scores / self.lam + 1e-9).astype(np.int64)
            counts = np.bincount(np.minimum(ranks, self.n_genres - 1), minlength=self.n_genres)
            within = tuple(float(x) for x in np.cumsum(counts) / len(self))
        per_genre = np.bincount(self.labels, minlength=self.n_genres)
        seen = per_genre[per_genre > 0]
        return SetBasis(
            coverage=float(coverage),
            method=self.method,
            rows=len(self),
            top1=float(np.mean(self.scores == 0)),
            threshold=float(limits.max()) if not class_conditional else math.nan,
            lam=self.lam,
            k_reg=self.k_reg,
            n_genres=self.n_genres,
            within=within,
            class_conditional=class_conditional,
            always=tuple(int(j) for j in np.flatnonzero(np.isinf(limits)))
            if class_conditional
            else (),
            genre_rows=(int(seen.min()), int(seen.max())) if len(seen) else (0, 0),
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
