"""The report's numbers: the data summary, genre counts and pairs, characteristic words per
genre, and a model's training history. Testable without drawing anything.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre.card import CARD_FILE
from moviegenre.checks import CheckSettings, check_text, word_count
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError
from moviegenre.serialization import ModelDir

#: The group name used for word clouds and terms of an unlabelled file.
ALL_ROWS = "all descriptions"
MODEL_CARD = CARD_FILE


@dataclass(frozen=True)
class ReportSettings:
    """What the report computes: terms per genre, language-check sample size, random_state."""

    top_terms: int = 10
    #: Rows whose language is identified; a larger file is sampled (seeded) to bound the time.
    language_sample: int = 5_000
    random_state: int = 0
    batch_size: int = 256
    checks: CheckSettings = field(default_factory=CheckSettings)

    def __post_init__(self) -> None:
        if self.top_terms < 1:
            raise ConfigError(f"top_terms must be >= 1, got {self.top_terms}")
        if self.language_sample < 1:
            raise ConfigError(f"language_sample must be >= 1, got {self.language_sample}")


# -- numbers ---------------------------------------------------------------------------------


def summarize(dataset: Dataset, settings: ReportSettings = ReportSettings()) -> dict[str, Any]:
    """The summary table's numbers; empty/short/non-English come from the library's checks."""
    quality = dataset.quality()
    cheap = CheckSettings(min_words=settings.checks.min_words, require_english=False)
    verdicts = [check_text(t, cheap) for t in dataset.texts]
    codes = Counter(v.code for v in verdicts)
    readable = [i for i, v in enumerate(verdicts) if v.ok]
    sample = readable
    if len(readable) > settings.language_sample:
        rng = random.Random(settings.random_state)
        sample = sorted(rng.sample(readable, settings.language_sample))
    full = CheckSettings(
        min_words=settings.checks.min_words,
        english_min_prob=settings.checks.english_min_prob,
        max_chars=settings.checks.max_chars,
    )
    non_english = sum(check_text(dataset.texts[i], full).code == "not_english" for i in sample)
    words = [word_count(t) for t in dataset.texts]
    years = [y for y in dataset.years if y is not None]
    sets = dataset.genre_sets()
    return {
        "rows": quality["rows"],
        "labelled": dataset.has_labels,
        "genres": quality["genres"],
        "multi_label": dataset.multi_label,
        "genres_per_row_mean": sum(map(len, sets)) / len(sets) if sets else 0.0,
        "multi_genre_rows": quality["multi_genre_rows"],
        "skipped_no_description": quality["skipped_no_description"],
        "skipped_no_genres": quality["skipped_no_genres"],
        "duplicate_texts": quality["duplicate_texts"],
        "conflicting_labels": quality["conflicting_labels"],
        "empty_texts": codes["empty"],
        "short_texts": codes["too_short"],
        "min_words": settings.checks.min_words,
        "language_checked": len(sample),
        "language_sampled": len(sample) < len(readable),
        "non_english": non_english,
        "non_english_share": non_english / len(sample) if sample else 0.0,
        "years_parsed": len(years),
        "year_min": min(years) if years else None,
        "year_max": max(years) if years else None,
        "words_median": float(np.median(words)) if words else 0.0,
        "words_max": max(words) if words else 0,
    }


def genre_counts(dataset: Dataset) -> dict[str, int]:
    """Rows per genre (a row counts for each of its genres), most frequent first; empty for an
    unlabelled file."""
    return dataset.genre_counts()


def _groups(dataset: Dataset) -> list[tuple[str, ...]]:
    """Each row's genres; every row of an unlabelled file is in the one group ALL_ROWS."""
    return dataset.genre_sets() if dataset.has_labels else [(ALL_ROWS,)] * len(dataset)


def cooccurring_pairs(dataset: Dataset, top: int = 15) -> list[tuple[str, str, int]]:
    """The ``top`` genre pairs held together by the most rows: (genre, genre, rows), the more
    frequent genre first; none for a single-label file."""
    names, matrix = dataset.cooccurrence()
    pairs = [
        (names[i], names[j], int(matrix[i, j]))
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if matrix[i, j]
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))[:top]


#: Strength of the informative Dirichlet prior of ``genre_terms``, in pseudo-counts per genre.
PRIOR_STRENGTH = 500.0


def _counts(texts: list[str]) -> tuple[Any, np.ndarray] | None:
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no terms left (all stop words)
        return None
    return matrix.tocsr(), vectorizer.get_feature_names_out()


def genre_terms(dataset: Dataset, n_terms: int = 30) -> dict[str, dict[str, float]]:
    """Top ``n_terms`` words that set each genre apart from the others, with their z-scores.

    The weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
    2008, "Fightin' Words"): a word's log-odds in the genre's descriptions minus its log-odds
    in all the other descriptions, each smoothed toward the word's share of the whole file
    (``PRIOR_STRENGTH`` pseudo-counts), divided by its standard error. A word as frequent
    everywhere scores ~0, so common words ("life", "story") top no genre; only words more
    frequent in the genre than elsewhere (z > 0) are kept. In a genre of 3+ rows a word must
    occur in 2+ of them (names of one plot drop out). An unlabelled file (one group) gets its
    most frequent words (documents containing each).
    """
    groups = _groups(dataset)
    order = list(genre_counts(dataset)) or [ALL_ROWS]
    fitted = _counts([t or "" for t in dataset.texts])
    result: dict[str, dict[str, float]] = {g: {} for g in order}
    if fitted is None:
        return result
    matrix, vocabulary = fitted
    total = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
    prior = PRIOR_STRENGTH * total / max(total.sum(), 1.0)
    a0 = prior.sum()
    for genre in order:
        rows = matrix[[i for i, genres in enumerate(groups) if genre in genres]]
        docs = np.asarray((rows > 0).sum(axis=0)).ravel()
        if len(order) == 1:
            weights = docs.astype(np.float64)
        else:
            mine = np.asarray(rows.sum(axis=0), dtype=np.float64).ravel()
            rest = total - mine
            n_mine, n_rest = mine.sum(), rest.sum()
            delta = np.log((mine + prior) / (n_mine + a0 - mine - prior)) - np.log(
                (rest + prior) / (n_rest + a0 - rest - prior)
            )
            weights = delta / np.sqrt(1 / (mine + prior) + 1 / (rest + prior))
            weights = np.where(mine > 0, weights, 0.0)
        if rows.shape[0] >= 3:
            weights = np.where(docs >= 2, weights, 0.0)
        top = np.argsort(-weights, kind="stable")[:n_terms]
        result[genre] = {str(vocabulary[j]): float(weights[j]) for j in top if weights[j] > 0}
    return result


def read_history(model_dir: Path | None) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """(per-epoch rows, best epoch, problem) from a model's history.json; never raises."""
    path = None if model_dir is None else ModelDir(model_dir).history_path
    if path is None or not path.is_file():
        return [], None, None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], None, f"{path} could not be read ({exc}); no training curves"
    best = raw.get("best_epoch") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        raw = next((v for k, v in raw.items() if k in ("epochs", "history")), [])
    rows = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    if best is None:
        best = next((r["best_epoch"] for r in rows if "best_epoch" in r), None)
    if not rows:
        return [], None, f"{path} holds no per-epoch rows; no training curves"
    return rows, best if isinstance(best, int) and not isinstance(best, bool) else None, None
