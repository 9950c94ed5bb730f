"""Which words pushed a prediction: per-word signed weights toward the top genre, with their noise.

A model that can weigh the words itself (``word_weights(text, genre)``: linear, which maps its
stems and bigrams back onto words) is asked for them; these weights are exact, so their noise
band is 0. This module only chooses between a model's own weights and occlusion.

Other kinds (encoders, the default blend) are explained by sampled Banzhaf values, the member of
the Shapley family that weighs every subset of the words equally (and the one least moved by a
noisy model, Wang & Jia, "Data Banzhaf", 2023). The value of a subset of the words is the
log-odds of the explained genre, ``log p - log(1 - p)``, for the text with every other word
deleted. ``samples`` random subsets (each word kept with probability 1/2, every subset paired
with its complement) go to the model in one ``predict_proba`` call; a least-squares fit of
the values on the words' presence gives each word's weight: exactly its Banzhaf value, the
average log-odds it adds across all subsets, when the subsets are uniform (Hammer & Holzman,
1992). Words that repeat the same evidence (``sheriff``, ``revolver`` and ``cattle`` in a
western) share the credit, where leaving one word out of the full text credits each of them
with almost nothing, whatever int8 rounding and context jitter say.

Each weight comes with ``noise``: the half-width of its 95% band, a t quantile times the
regression's standard error, which carries the sampling spread and everything in the model's
answers that the words' additive effects do not explain (int8 rounding, context, interactions).
A weight inside its band is neutral (``significant`` is False): the page leaves it uncoloured
and ``/v1/explain`` says so. A text of more than ``max_players`` words is explained in windows
of adjacent words, which share their window's weight.

Cost: ``2 * words + 64`` model evaluations of partial texts by default (the fit needs more
subsets than words), in one call; ~164 for a 50-word text. README ("Web page") states the
seconds; benchmarks/explain_faithfulness.py measures them and how faithful the weights are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from moviegenre.checks import CheckSettings, check_text
from moviegenre.errors import ConfigError, InvalidTextError
from moviegenre.results import GenreScores, top_k_of

#: The words that occlusion deletes (two or more word characters, as linear's analyzer).
WORD = re.compile(r"(?u)\b\w\w+\b")
#: Two-sided confidence of the noise band around each sampled weight.
CONFIDENCE = 0.95
#: p and 1 - p are clipped below at this before taking log-odds.
_TINY = 1e-12
METHODS = ("auto", "weights", "banzhaf")


@dataclass(frozen=True)
class SampleSettings:
    """The sample budget of a Banzhaf explanation: ``per_word * words + extra`` random subsets
    of the words (rounded up to an even number: each subset comes with its complement).

    More subsets narrow the noise bands (as 1 / the square root) and cost proportionally more.
    ``max_players``: a longer text is explained in that many windows of adjacent words.
    ``random_state`` seeds the subsets, so an explanation is reproducible.
    """

    per_word: float = 2.0
    extra: int = 64
    max_players: int = 128
    random_state: int = 0

    def __post_init__(self) -> None:
        if not self.per_word >= 1.0:
            raise ConfigError(
                f"per_word must be >= 1 (the fit needs a subset per word), got {self.per_word}"
            )
        if self.extra < 8:
            raise ConfigError(f"extra must be >= 8 (to measure the noise), got {self.extra}")
        if self.max_players < 1:
            raise ConfigError(f"max_players must be >= 1, got {self.max_players}")

    def samples(self, players: int) -> int:
        """How many subsets a text of ``players`` words (or windows) gets."""
        n = math.ceil(self.per_word * players) + self.extra
        return n + n % 2


class Explainable(Protocol):
    """What an explanation needs of a classifier (a GenreClassifier is one); a protocol, so
    that this module sits below the classifier and never imports it."""

    model: Any
    checks: CheckSettings

    @property
    def genres(self) -> list[str]: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class WordWeight:
    """One word of the original text, its span ``text[start:end]``, its signed weight and the
    half-width of that weight's noise band (0 for exact weights)."""

    word: str
    start: int
    end: int
    weight: float
    noise: float = 0.0

    @property
    def significant(self) -> bool:
        """Whether the weight lies outside its noise band (else it reads as neutral)."""
        return abs(self.weight) > self.noise

    def to_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "weight": self.weight,
            "noise": self.noise,
            "significant": self.significant,
        }


@dataclass
class Explanation:
    """The top genres of a text and how much each of its words pushed toward the first one.

    ``method``: "weights" (the linear model's own, exact) or "banzhaf" (sampled, in log-odds
    of the genre, with a noise band per word); ``evaluations``: partial texts the model scored.
    """

    text: str
    genres: GenreScores
    words: list[WordWeight] = field(default_factory=list)
    method: str = "weights"
    truncated: bool = False
    evaluations: int = 0

    @property
    def genre(self) -> str:
        return self.genres[0][0]

    def top_words(
        self, n: int = 10, *, positive: bool = True, neutral: bool = False
    ) -> list[WordWeight]:
        """The ``n`` words that pushed most toward (or, ``positive=False``, away from) the genre;
        words inside their noise band only with ``neutral=True``."""
        sign = 1.0 if positive else -1.0
        ranked = sorted(
            (w for w in self.words if sign * w.weight > 0 and (neutral or w.significant)),
            key=lambda w: -sign * w.weight,
        )
        return ranked[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "genre": self.genre,
            "genres": [{"genre": g, "probability": p} for g, p in self.genres],
            "method": self.method,
            "truncated": self.truncated,
            "words": [w.to_dict() for w in self.words],
        }


def _by_weights(classifier: Explainable, text: str, genre: str) -> list[tuple[int, int, float]]:
    """The model's own ``(start, end, weight)`` per word of ``text`` toward ``genre``."""
    return [(int(a), int(b), float(w)) for a, b, w in classifier.model.word_weights(text, genre)]


def without(text: str, spans: list[tuple[int, int]], drop: Any) -> str:
    """``text`` with the words at ``spans[i]`` deleted wherever ``drop[i]`` is true."""
    parts, cursor = [], 0
    for (start, end), gone in zip(spans, drop, strict=True):
        if gone:
            parts.append(text[cursor:start])
            cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def log_odds(proba: np.ndarray, class_index: int) -> np.ndarray:
    """``log p - log(1 - p)`` of one class per row; ``1 - p`` is the sum of the other classes
    (exact where ``p`` rounds to 1)."""
    p = np.clip(proba[:, class_index], _TINY, None)
    rest = np.clip(proba.sum(axis=1) - proba[:, class_index], _TINY, None)
    return np.log(p) - np.log(rest)


def _by_banzhaf(
    classifier: Explainable, text: str, class_index: int, settings: SampleSettings
) -> tuple[list[float], list[float], int]:
    """Sampled Banzhaf weights, their noise bands and the number of texts scored."""
    spans = [m.span() for m in WORD.finditer(text)]
    if not spans:
        return [], [], 0
    size = max(1, math.ceil(len(spans) / settings.max_players))
    windows = [list(range(i, min(i + size, len(spans)))) for i in range(0, len(spans), size)]
    m = len(windows)
    rng = np.random.default_rng(settings.random_state)
    half = rng.random((settings.samples(m) // 2, m)) < 0.5
    kept = np.concatenate([half, ~half])  # every subset and its complement
    unique, inverse = np.unique(kept, axis=0, return_inverse=True)
    lengths = [len(w) for w in windows]
    texts = [without(text, spans, np.repeat(~row, lengths)) for row in unique]
    proba = np.asarray(classifier.model.predict_proba(texts), dtype=np.float64)
    values = log_odds(proba, class_index)[inverse.reshape(-1)]
    design = np.column_stack([np.ones(len(kept)), kept.astype(np.float64)])
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    # ordinary least-squares standard errors; residual_dof >= extra - 1 >= 7 by SampleSettings
    residual_dof = len(kept) - np.linalg.matrix_rank(design)
    sigma2 = float(np.sum((values - design @ coef) ** 2)) / residual_dof
    errors = np.sqrt(sigma2 * np.diag(np.linalg.pinv(design.T @ design)))[1:]
    from scipy.stats import t as student_t  # here: scipy.stats takes ~0.7 s to import

    band = float(student_t.ppf(0.5 + CONFIDENCE / 2, residual_dof)) * errors
    weights, noise = [0.0] * len(spans), [0.0] * len(spans)
    for window, value, width in zip(windows, coef[1:], band, strict=True):
        for i in window:
            weights[i] = float(value) / len(window)
            noise[i] = float(width) / len(window)
    return weights, noise, len(unique)


def explain(
    classifier: Explainable,
    text: str,
    top_k: int = 3,
    *,
    check: bool = True,
    method: str = "auto",
    samples: SampleSettings | None = None,
) -> Explanation:
    """Top-``top_k`` genres of ``text`` and a signed weight per word toward the first genre.

    ``method``: "auto" (model weights when the model offers ``word_weights``, else
    Banzhaf values), "weights" or "banzhaf". ``samples`` sets the Banzhaf sample budget
    (SampleSettings). Raises InvalidTextError when the text fails the checks.
    """
    if not 1 <= top_k <= len(classifier.genres):
        raise ConfigError(f"top_k must be between 1 and {len(classifier.genres)}, got {top_k}")
    has_weights = hasattr(classifier.model, "word_weights")
    if method == "auto":
        method = "weights" if has_weights else "banzhaf"
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    if method == "weights" and not has_weights:
        raise ConfigError(f"a {classifier.kind!r} model has no weights to explain; use banzhaf")
    settings = classifier.checks
    if not check:
        settings = replace(settings, min_words=0, require_english=False)
    verdict = check_text(text, settings)
    if not verdict.ok:
        raise InvalidTextError(f"cannot explain this text: {verdict.problem}")
    checked = verdict.text
    proba = classifier.model.predict_proba([checked])
    genres = top_k_of(proba, classifier.genres, top_k)[0]
    class_index = classifier.genres.index(genres[0][0])
    if method == "weights":
        scored = _by_weights(classifier, checked, genres[0][0])
        noise, evaluations = [0.0] * len(scored), 0
    else:
        weights, noise, evaluations = _by_banzhaf(
            classifier, checked, class_index, samples or SampleSettings()
        )
        scored = [(*m.span(), w) for m, w in zip(WORD.finditer(checked), weights, strict=True)]
    offset = len(text) - len(text.lstrip())  # the checks strip the text; spans are in ``text``
    words = [
        WordWeight(checked[a:b], a + offset, b + offset, float(w), float(e))
        for (a, b, w), e in zip(scored, noise, strict=True)
    ]
    return Explanation(text, genres, words, method, verdict.truncated, evaluations)
