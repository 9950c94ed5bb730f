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
import random
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre import selection
from moviegenre._util import atomic_write, csv_cell
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError
from moviegenre.models import model_class

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
    """One given genre's flagged rows, and the genres suggested for exactly those rows.

    ``suggested`` lists every suggested genre with its count, most frequent first, so the
    counts add up to ``flagged``; ``flagged_share`` is ``flagged / rows``.
    """

    genre: str
    rows: int
    flagged: int
    flagged_share: float
    suggested: list[tuple[str, int]] = field(default_factory=list)

    def suggested_text(self, shown: int = 3) -> str:
        """The first ``shown`` suggested genres with counts and the rest summed: they add up."""
        if len(self.suggested) == shown + 1:
            shown += 1  # naming the last genre is shorter than "1 other genre"
        cells = [f"{name} ({n})" for name, n in self.suggested[:shown]]
        rest = sum(n for _, n in self.suggested[shown:])
        more = len(self.suggested) - shown
        other = f"{more} other genres ({rest})"
        return ", ".join(cells + ([other] if rest else []))


@dataclass
class PlantedCheck:
    """How well the audit finds labels flipped at random in the audited file.

    ``hits[r]`` says whether the row ranked ``r`` among the flagged rows of the flipped copy was
    a planted flip. Flagged rows that were not planted may still be real errors of the file, so
    precision is a lower bound.
    """

    share: float
    seed: int
    planted: int
    hits: list[bool]

    @property
    def flagged(self) -> int:
        return len(self.hits)

    def found(self, top: int | None = None) -> int:
        """Planted flips among the first ``top`` flagged rows (all flagged rows when None)."""
        return sum(self.hits[:top])

    def precision(self, top: int | None = None) -> float:
        shown = len(self.hits[:top])
        return self.found(top) / shown if shown else 0.0

    def recall(self, top: int | None = None) -> float:
        return self.found(top) / self.planted if self.planted else 0.0

    def summary(self) -> str:
        """One sentence with the precision in the top ``planted`` rows and the recall."""
        n = self.planted
        return (
            f"Planted-noise check on this file: {n} labels ({self.share:.0%}, seed {self.seed}) "
            f"flipped at random and audited again; {self.found(n)} of the top {n} flagged rows "
            f"were planted flips (precision {self.precision(n):.2f}), and all {self.flagged} "
            f"flagged rows held {self.found()} of the {n} (recall {self.recall():.2f})."
        )

    def to_dict(self) -> dict[str, Any]:
        n = self.planted
        return {
            "share": self.share,
            "seed": self.seed,
            "planted": n,
            "flagged": self.flagged,
            "precision_at_planted": round(self.precision(n), 4),
            "recall": round(self.recall(), 4),
        }


@dataclass
class AuditResult:
    """Flagged rows (most suspicious first), the per-genre summary and the planted-noise check."""

    issues: list[LabelIssue]
    genres: list[GenreNoise]
    kind: str
    rows: int
    source: str
    planted: PlantedCheck | None = None

    def headline(self) -> str:
        """What the number of flagged rows means, in one sentence."""
        return (
            f"{len(self.issues)} of {self.rows} rows carry a label that another genre explains "
            f"better (out-of-fold {self.kind} predictions, confident learning), ranked by how "
            "likely the label is wrong (lowest probability of the given genre first)"
        )

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
            writer.writerow(["genre", "rows", "flagged", "flagged_share", "suggested"])
            for g in self.genres:
                pairs = "; ".join(f"{name} ({n})" for name, n in g.suggested)
                row = [g.genre, g.rows, g.flagged, round(g.flagged_share, 4), pairs]
                writer.writerow([csv_cell(v) for v in row])
        return [issues, noise]


def out_of_fold_proba(
    dataset: Dataset, kind: str = "linear", *, folds: int = 5, random_state: int = 0
) -> tuple[np.ndarray, list[str]]:
    """Each row's probabilities from a model that did not train on it; columns = genres.

    ``selection.held_out_proba`` over ``folds`` folds, with a ``kind`` model seeded by
    ``random_state`` (linear gives its own out-of-fold predictions through its hook).
    """
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; an audit needs labelled rows")
    scheme = selection.Scheme.folds(folds, random_state)
    cls = model_class(kind)
    held = selection.held_out_proba(
        lambda: selection.seeded(cls, {}, random_state), dataset.texts, dataset.labels or [], scheme
    )
    return held.proba.astype(np.float64), held.classes


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


def _flag(
    dataset: Dataset, kind: str, folds: int, random_state: int
) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Out-of-fold probabilities, genres, label columns and the flagged rows (ranked)."""
    proba, genres = out_of_fold_proba(dataset, kind, folds=folds, random_state=random_state)
    column = {g: j for j, g in enumerate(genres)}
    labels = np.array([column[str(y)] for y in dataset.labels or []], dtype=np.int64)
    return proba, genres, labels, find_label_issues(labels, proba)


def planted_noise_check(
    dataset: Dataset,
    kind: str = "linear",
    *,
    share: float = 0.05,
    seed: int = 0,
    folds: int = 5,
    random_state: int = 0,
) -> PlantedCheck:
    """Flip ``share`` of the labels to another genre at random (seeded), audit the copy.

    One definition of the planted-noise protocol, for ``audit`` and ``benchmarks/audit.py``.
    """
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; an audit needs labelled rows")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise ConfigError(f"the planted share must be a number between 0 and 1, got {share!r}")
    labels = [str(y) for y in dataset.labels or []]
    genres = sorted(set(labels))
    if len(genres) < 2:
        raise ConfigError("a planted-noise check needs at least two genres")
    rng = random.Random(seed)
    picked = rng.sample(range(len(labels)), max(1, round(share * len(labels))))
    for i in picked:
        labels[i] = rng.choice([g for g in genres if g != labels[i]])
    _, _, _, found = _flag(replace(dataset, labels=labels), kind, folds, random_state)
    planted = set(picked)
    return PlantedCheck(share, seed, len(picked), [int(i) in planted for i in found])


def audit(
    dataset: Dataset,
    kind: str = "linear",
    *,
    folds: int = 5,
    random_state: int = 0,
    planted_share: float | None = 0.05,
    planted_seed: int = 0,
) -> AuditResult:
    """Flag the rows of a labelled ``dataset`` whose given genre is probably wrong.

    With ``planted_share`` (default 5%), the ranking's quality is also measured on this file
    (``planted_noise_check``: a second out-of-fold fit, so about twice the time); None skips it.
    A multi-label dataset is refused: confident learning needs one given genre per row.
    """
    dataset.require_single_label("the label audit (confident learning)")
    check = None
    if planted_share is not None:
        check = planted_noise_check(
            dataset,
            kind,
            share=planted_share,
            seed=planted_seed,
            folds=folds,
            random_state=random_state,
        )
    proba, genres, labels, found = _flag(dataset, kind, folds, random_state)
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
    by_genre = _by_genre(labels, genres, issues)
    return AuditResult(issues, by_genre, kind, len(labels), str(dataset.source), check)


def _by_genre(labels: np.ndarray, genres: list[str], issues: list[LabelIssue]) -> list[GenreNoise]:
    """Per given genre: its rows, its flagged rows and what was suggested for exactly those."""
    rows = np.bincount(labels, minlength=len(genres))
    suggested: dict[str, Counter[str]] = {g: Counter() for g in genres}
    for issue in issues:
        suggested[issue.given][issue.suggested] += 1
    out = []
    for j, genre in enumerate(genres):
        pairs = sorted(suggested[genre].items(), key=lambda p: (-p[1], p[0]))
        flagged = sum(n for _, n in pairs)
        share = flagged / rows[j] if rows[j] else 0.0
        out.append(GenreNoise(genre, int(rows[j]), flagged, float(share), pairs))
    return sorted(out, key=lambda g: (-g.flagged_share, g.genre))


def as_rows(result: AuditResult, top: int | None = None) -> list[dict[str, Any]]:
    """The flagged rows as dicts (for tables and JSON), most suspicious first."""
    return [asdict(issue) for issue in result.issues[:top]]
