"""Evaluate a classifier on a labelled dataset: metrics, metrics.json and a confusion-matrix PNG.

On genre sets (several genres per row) a multi-label model is scored by micro-, macro- and
samples-F1, Jaccard and Hamming loss of the genres it assigns, plus hit@1/hit@3; a
single-label model by hit@1/hit@3 only (it assigns one genre per film by construction, so
set scores would measure that, not the model); ``note`` says so in the metrics.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre._util import write_text
from moviegenre.classifier import NO_COVERAGE_SETS, GenreClassifier
from moviegenre.conformal import ConformalScores
from moviegenre.data import Dataset, dataset_fingerprint
from moviegenre.errors import ConfigError
from moviegenre.metrics import hit_rates, multi_label_score, score
from moviegenre.multilabel import as_sets, is_multi_label

#: Why a single-label model on genre sets is scored by hit@k only.
HIT_ONLY = (
    "single-label model on genre sets: scored by hit@1/hit@3 against each film's genres only, "
    "since it assigns one genre per film"
)


def evaluate(
    classifier: GenreClassifier,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Score ``classifier`` on every row of ``dataset``; ``progress(rows_done, rows_total)``.

    No word/language checks: a test set is scored as it is.
    """
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; evaluation needs labelled rows")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    parts = []
    started = time.perf_counter()
    for start in range(0, len(dataset), batch_size):
        texts = dataset.texts[start : start + batch_size]
        parts.append(classifier.predict_proba(texts, batch_size=batch_size))
        if progress is not None:
            progress(start + len(texts), len(dataset))
    proba = np.vstack(parts)
    seconds = time.perf_counter() - started
    metrics = _scores(classifier, dataset, proba)
    metrics["per_second"] = round(len(dataset) / max(seconds, 1e-9), 1)
    metrics["model"] = {
        "kind": classifier.kind,
        "name": classifier.name,
        "path": str(classifier.path),
    }
    metrics["data"] = dataset.source
    return metrics


def _scores(classifier: GenreClassifier, dataset: Dataset, proba: np.ndarray) -> dict[str, Any]:
    labels = list(dataset.labels or [])
    rule = classifier.info.label_rule
    if not is_multi_label(labels) and rule is None:
        return score(labels, proba, classifier.genres)
    sets = as_sets(labels)
    dataset.check_genres(classifier.genres)  # one line, naming them (and a wrong separator)
    if rule is None:
        return {**hit_rates(sets, proba, classifier.genres), "note": HIT_ONLY}
    return {
        **multi_label_score(sets, proba, classifier.genres, rule.thresholds),
        "multi_label": True,
    }


def write_report(metrics: dict[str, Any], directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``metrics.json`` and ``confusion_matrix.png`` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    json_path = write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if "confusion" not in metrics:  # genre sets: no single true genre, so no confusion matrix
        return [json_path]
    from moviegenre.report.figures import confusion

    return [json_path, confusion(metrics, out / "confusion_matrix.png")]


def calibrate(
    classifier: GenreClassifier, dataset: Dataset, *, method: str = "aps", batch_size: int = 256
) -> ConformalScores:
    """Conformity scores of labelled rows the model did not train on (``moviegenre calibrate``).

    The model itself scores the rows, so APS sets are valid split conformal sets for texts
    exchangeable with these rows. The training file itself is refused (its fingerprint).
    """
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; calibration needs labelled rows")
    if classifier.info.multi_label:
        raise ConfigError(NO_COVERAGE_SETS)
    labels = list(dataset.labels or [])
    if is_multi_label(labels):
        raise ConfigError(
            f"{dataset.source} has several genres per row; coverage sets are calibrated on one "
            "genre per row"
        )
    trained_on = classifier.info.training.get("data_fingerprint")
    if trained_on and trained_on == dataset_fingerprint(dataset.texts, labels):
        raise ConfigError(
            f"{dataset.source} is the file this model was trained on; calibrate on labelled "
            "rows the model never saw, or the sets will be too small"
        )
    proba = classifier.predict_proba(dataset.texts, batch_size=batch_size)
    return ConformalScores.from_proba(proba, labels, classifier.genres, method=method)


def set_coverage(
    classifier: GenreClassifier,
    dataset: Dataset,
    coverages: list[float],
    *,
    class_conditional: bool = False,
    batch_size: int = 256,
) -> list[dict[str, Any]]:
    """Per target coverage: the share of rows whose genre set holds the true genre, set sizes,
    and ``by_genre``: that share among the rows of each true genre ({genre: (share, rows)})."""
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; coverage needs labelled rows")
    conformal = classifier.require_conformal(coverages[0] if coverages else 0.9)
    proba = classifier.predict_proba(dataset.texts, batch_size=batch_size)
    column = {g: j for j, g in enumerate(classifier.genres)}
    truth = np.array([column.get(str(y), -1) for y in dataset.labels or []])
    rows = []
    for coverage in coverages:
        sets = conformal.sets(proba, coverage, class_conditional)
        sizes = np.array([len(s) for s in sets])
        hit = np.array([t in s for t, s in zip(truth, sets, strict=True)])
        by_genre = {
            genre: (float(hit[truth == j].mean()), int((truth == j).sum()))
            for j, genre in enumerate(classifier.genres)
            if (truth == j).any()
        }
        rows.append(
            {
                "coverage": coverage,
                "empirical": float(hit.mean()),
                "mean_size": float(sizes.mean()),
                "median_size": float(np.median(sizes)),
                "by_genre": by_genre,
            }
        )
    return rows
