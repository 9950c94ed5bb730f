"""Which words pushed a prediction: per-word signed weights toward the top genre.

Linear models explain themselves: each feature's contribution (tf-idf x weight) is mapped back
onto the words of the original text (a bigram's share is split between its two words, a stem's
between the words that carry it). Other kinds (encoders, ensembles) are explained by occlusion:
drop a word, or a window of words for long texts, and measure how much the top genre's
probability falls; all occluded variants go to the model in one ``predict_proba`` call.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from moviegenre.checks import CheckSettings, check_text
from moviegenre.errors import ConfigError, InvalidTextError
from moviegenre.results import GenreScores, top_k_of

#: Words as the linear model's analyzer sees them (two or more word characters).
WORD = re.compile(r"(?u)\b\w\w+\b")
#: Occluded variants per explanation at most; longer texts are occluded in windows of words.
MAX_OCCLUSIONS = 48


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
    """One word of the original text, its span ``text[start:end]`` and its signed weight."""

    word: str
    start: int
    end: int
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "weight": self.weight}


@dataclass
class Explanation:
    """The top genres of a text and how much each of its words pushed toward the first one."""

    text: str
    genres: GenreScores
    words: list[WordWeight] = field(default_factory=list)
    method: str = "weights"  # "weights" (the model's own) or "occlusion"
    truncated: bool = False

    @property
    def genre(self) -> str:
        return self.genres[0][0]

    def top_words(self, n: int = 10, *, positive: bool = True) -> list[WordWeight]:
        """The ``n`` words that pushed most toward (or, ``positive=False``, away from) the genre."""
        sign = 1.0 if positive else -1.0
        ranked = sorted(
            (w for w in self.words if sign * w.weight > 0), key=lambda w: -sign * w.weight
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


def _spread(contributions: dict[str, float], words: list[str], weights: list[float]) -> list[float]:
    """Add each feature's contribution to the words it came from, split evenly among them."""
    positions: dict[str, list[int]] = defaultdict(list)
    for i, w in enumerate(words):
        positions[w].append(i)
    bigrams: dict[str, list[int]] = defaultdict(list)
    for i in range(len(words) - 1):
        bigrams[f"{words[i]} {words[i + 1]}"].append(i)
    for feature, value in contributions.items():
        if feature.startswith("#"):
            stem = feature[1:]
            owners = [i for i, w in enumerate(words) if len(w) > len(stem) and w.startswith(stem)]
        elif " " in feature:
            owners = [j for i in bigrams.get(feature, []) for j in (i, i + 1)]
        else:
            owners = positions.get(feature, [])
        for i in owners:
            weights[i] += value / len(owners)
    return weights


def _by_weights(classifier: Explainable, text: str, class_index: int) -> list[float]:
    words = [m.group().lower() for m in WORD.finditer(text)]
    contributions = classifier.model.feature_contributions(text, class_index)
    return _spread(contributions, words, [0.0] * len(words))


def _by_occlusion(
    classifier: Explainable, text: str, class_index: int, base: float, max_occlusions: int
) -> list[float]:
    spans = [m.span() for m in WORD.finditer(text)]
    if not spans:
        return []
    size = max(1, math.ceil(len(spans) / max_occlusions))
    windows = [list(range(i, min(i + size, len(spans)))) for i in range(0, len(spans), size)]
    variants = []
    for window in windows:
        parts, cursor = [], 0
        for i in window:
            parts.append(text[cursor : spans[i][0]])
            cursor = spans[i][1]
        parts.append(text[cursor:])
        variants.append("".join(parts))
    proba = classifier.model.predict_proba(variants)
    weights = [0.0] * len(spans)
    for window, row in zip(windows, proba, strict=True):
        drop = base - float(row[class_index])
        for i in window:
            weights[i] = drop / len(window)
    return weights


def explain(
    classifier: Explainable,
    text: str,
    top_k: int = 3,
    *,
    check: bool = True,
    method: str = "auto",
    max_occlusions: int = MAX_OCCLUSIONS,
) -> Explanation:
    """Top-``top_k`` genres of ``text`` and a signed weight per word toward the first genre.

    ``method``: "auto" (model weights when the model exposes ``feature_contributions``, else
    occlusion), "weights" or "occlusion". Raises InvalidTextError when the text fails the checks.
    """
    if not 1 <= top_k <= len(classifier.genres):
        raise ConfigError(f"top_k must be between 1 and {len(classifier.genres)}, got {top_k}")
    if max_occlusions < 1:
        raise ConfigError(f"max_occlusions must be >= 1, got {max_occlusions}")
    has_weights = hasattr(classifier.model, "feature_contributions")
    if method == "auto":
        method = "weights" if has_weights else "occlusion"
    if method not in ("weights", "occlusion"):
        raise ConfigError(f"method must be 'auto', 'weights' or 'occlusion', got {method!r}")
    if method == "weights" and not has_weights:
        raise ConfigError(f"a {classifier.kind!r} model has no weights to explain; use occlusion")
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
        weights = _by_weights(classifier, checked, class_index)
    else:
        base = float(proba[0, class_index])
        weights = _by_occlusion(classifier, checked, class_index, base, max_occlusions)
    offset = len(text) - len(text.lstrip())  # the checks strip the text; spans are in ``text``
    words = [
        WordWeight(m.group(), m.start() + offset, m.end() + offset, float(w))
        for m, w in zip(WORD.finditer(checked), weights, strict=True)
    ]
    return Explanation(text, genres, words, method, verdict.truncated)
