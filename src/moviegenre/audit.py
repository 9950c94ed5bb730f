"""Audit the labels of a training file: rows whose given genre is probably wrong.

Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021), method "prune by noise rate", as cleanlab's ``find_label_issues``
does it by default: out-of-fold probabilities -> per-genre thresholds -> confident joint of
(given, likely true) genres, calibrated to the genre counts -> for each off-diagonal cell, the
rows with the largest margin p(true) - p(given) are flagged; rows whose most probable genre is
the given one are never flagged. Ranked by the probability of the given genre (lowest first).
Implemented here rather than depending on cleanlab, which is AGPL-3.0 (moviegenre is MIT).
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import atomic_write, csv_cell
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError
from moviegenre.models import model_class
from moviegenre.split import check_folds, stratified_folds

SNIPPET_CHARS = 160


@dataclass
class LabelIssue:
    """One row whose given genre is probably wrong."""

    row: int
    id: str
    title: str | None
    given: str
    suggested: str
    confidence: float  # the model's probability of ``suggested`` (out-of-fold)
    given_probability: float
    snippet: str


@dataclass
class GenreNoise:
    """How noisy one genre's labels look: estimated share of wrong labels and where they go."""

    genre: str
    rows: int
    flagged: int
    noise_rate: float
    confused_with: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class AuditResult:
    """Flagged rows (most suspicious first) and the per-genre noise summary."""

    issues: list[LabelIssue]
    genres: list[GenreNoise]
    kind: str
    rows: int
    source: str

    def write(self, directory: str | os.PathLike[str]) -> list[Path]:
        """``label_issues.csv`` and ``noise_by_genre.csv`` in ``directory`` (created)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        issues = out / "label_issues.csv"
        with atomic_write(issues) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
            fields = list(LabelIssue.__dataclass_fields__)
            writer = csv.writer(fh)
            writer.writerow(fields)
            # titles and descriptions are user data: no cell may run as a spreadsheet formula
            writer.writerows([csv_cell(v) for v in asdict(issue).values()] for issue in self.issues)
        noise = out / "noise_by_genre.csv"
        with atomic_write(noise) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["genre", "rows", "flagged", "noise_rate", "confused_with"])
            for g in self.genres:
                pairs = "; ".join(f"{name} ({n})" for name, n in g.confused_with)
                row = [g.genre, g.rows, g.flagged, round(g.noise_rate, 4), pairs]
                writer.writerow([csv_cell(v) for v in row])
        return [issues, noise]


def out_of_fold_proba(
    dataset: Dataset, kind: str = "linear", *, folds: int = 5, random_state: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Each row's probabilities from a model that did not train on it; columns = genres.

    A kind whose ``fit`` cross-validates over ``calibration_folds`` (linear) gives its own
    out-of-fold predictions; others are fitted once per fold of the one splitter (split.py).
    """
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; an audit needs labelled rows")
    check_folds(folds, "folds")
    labels = np.asarray(dataset.labels, dtype=object)
    cls = model_class(kind)
    if "calibration_folds" in cls().get_params():
        model = cls(calibration_folds=folds, random_state=random_state)
        model.fit(dataset.texts, list(labels))
        return np.asarray(model.oof_proba_), [str(c) for c in model.classes_]
    genres = sorted({str(y) for y in labels})
    column = {g: j for j, g in enumerate(genres)}
    proba = np.zeros((len(labels), len(genres)))
    for train_idx, held_idx in stratified_folds(labels, n_folds=folds, random_state=random_state):
        texts = [dataset.texts[i] for i in train_idx]
        model = cls().fit(texts, list(labels[train_idx]))
        part = model.predict_proba([dataset.texts[i] for i in held_idx])
        cols = [column[str(c)] for c in model.classes_]
        proba[np.ix_(held_idx, cols)] = part
    return proba, genres


def confident_joint(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Counts of (given genre, likely true genre), calibrated so row i sums to genre i's rows.

    A row counts toward the most probable genre among those whose probability reaches that
    genre's threshold (its mean probability over rows labelled with it).
    """
    k = proba.shape[1]
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=proba[np.arange(len(labels)), labels], minlength=k)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    above = proba >= thresholds[None, :] - 1e-6
    likely = np.where(above, proba, -np.inf).argmax(axis=1)
    has = above.any(axis=1)
    joint = np.zeros((k, k))
    np.add.at(joint, (labels[has], likely[has]), 1)
    totals = joint.sum(axis=1, keepdims=True)
    calibrated = np.where(totals > 0, joint / np.maximum(totals, 1) * counts[:, None], 0.0)
    empty = (totals[:, 0] == 0) & (counts > 0)
    calibrated[empty, empty.nonzero()[0]] = counts[empty]
    return calibrated


def find_label_issues(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Row indices of likely label errors, most suspicious (lowest given-genre probability) first.

    ``labels``: given genre column of each row; ``proba``: out-of-fold probabilities.
    """
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or len(proba) != len(labels):
        raise ConfigError(
            f"need one probability row per label, got {proba.shape} for {len(labels)}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= proba.shape[1]):
        raise ConfigError("labels must be column indices of the probability matrix")
    joint = confident_joint(labels, proba)
    flagged = np.zeros(len(labels), dtype=bool)
    for given in range(proba.shape[1]):
        rows = np.flatnonzero(labels == given)
        # keep at least one row of each genre, as cleanlab does
        budget = max(len(rows) - 1, 0)
        for true in np.argsort(-joint[given], kind="stable"):
            n = min(round(joint[given, true]), budget)
            if true == given or n <= 0:
                continue
            margin = proba[rows, true] - proba[rows, given]
            flagged[rows[np.argsort(-margin, kind="stable")[:n]]] = True
            budget -= n
    flagged &= proba.argmax(axis=1) != labels
    found = np.flatnonzero(flagged)
    return found[np.argsort(proba[found, labels[found]], kind="stable")]


def audit(
    dataset: Dataset, kind: str = "linear", *, folds: int = 5, random_state: int = 0
) -> AuditResult:
    """Flag the rows of a labelled ``dataset`` whose given genre is probably wrong."""
    proba, genres = out_of_fold_proba(dataset, kind, folds=folds, random_state=random_state)
    column = {g: j for j, g in enumerate(genres)}
    labels = np.array([column[str(y)] for y in dataset.labels or []], dtype=np.int64)
    found = find_label_issues(labels, proba)
    issues = []
    for i in found:
        best = int(proba[i].argmax())
        text = " ".join(dataset.texts[i].split())
        issues.append(
            LabelIssue(
                row=int(i),
                id=str(dataset.ids[i]),
                title=dataset.titles[i],
                given=genres[labels[i]],
                suggested=genres[best],
                confidence=round(float(proba[i, best]), 4),
                given_probability=round(float(proba[i, labels[i]]), 4),
                snippet=text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else ""),
            )
        )
    return AuditResult(
        issues, _noise(labels, proba, genres, found), kind, len(labels), str(dataset.source)
    )


def _noise(
    labels: np.ndarray, proba: np.ndarray, genres: list[str], found: np.ndarray
) -> list[GenreNoise]:
    joint = confident_joint(labels, proba)
    flagged = np.bincount(labels[found], minlength=len(genres))
    out = []
    for j, genre in enumerate(genres):
        rows = int((labels == j).sum())
        off = [(genres[t], round(float(joint[j, t]))) for t in np.argsort(-joint[j], kind="stable")]
        confused = [(g, n) for g, n in off if g != genre and n > 0][:3]
        rate = 1 - joint[j, j] / rows if rows else 0.0
        out.append(GenreNoise(genre, rows, int(flagged[j]), float(rate), confused))
    return sorted(out, key=lambda g: -g.noise_rate)


def as_rows(result: AuditResult, top: int | None = None) -> list[dict[str, Any]]:
    """The flagged rows as dicts (for tables and JSON), most suspicious first."""
    return [asdict(issue) for issue in result.issues[:top]]
