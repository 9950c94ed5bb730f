"""Train a model kind on a labelled dataset: data -> selection -> refit -> TrainResult.

Test data never enters here. Settings are chosen by ``selection.py``, the one protocol: a
grid is searched on a hold-out slice of the training rows and the chosen setting is refit on
all of them where the kind allows. Kinds that choose their settings inside ``fit`` through
the same protocol (linear: out-of-fold; the blends and finetune: a hold-out slice) are fitted
once on all rows instead, and their held-out predictions are the validation metrics. Either
way, the held-out predictions also become the conformity scores of ``predict_set``.

Every ``TrainSettings`` field reaches the kind or is refused before any fit (``plan``): a
setting that a kind cannot use (``val_fraction`` for a kind that holds rows out by folds,
``device="cuda"`` for a kind that fine-tunes nothing) is one ConfigError, never ignored.

Genre sets (several genres per row, ``multilabel.py``) train only the kinds that support
them (``supports_multi_label``). Their held-out predictions choose the per-genre decision
thresholds (``LabelRule``: F1-optimal per genre, one global threshold for genres with too
few positives) and keep what conformal risk control needs for recall sets; single-label
conformity scores (coverage sets) and the heldout file are single-label only and are not kept.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from moviegenre import selection
from moviegenre.checks import CheckSettings
from moviegenre.classifier import GenreClassifier
from moviegenre.conformal import TRAINING_SCORE, ConformalScores
from moviegenre.data import Dataset, dataset_fingerprint
from moviegenre.errors import ConfigError
from moviegenre.heldout import TrainingPredictions
from moviegenre.metrics import headline, score_any
from moviegenre.multilabel import LabelRule, as_sets, indicator
from moviegenre.progress import reporting
from moviegenre.training_plan import (  # re-exported: TrainSettings is imported from here
    DEFAULT_VAL_FRACTION,
    Plan,
    TrainSettings,
    check_multi_label,
    plan,
)

__all__ = [
    "DEFAULT_VAL_FRACTION",
    "Plan",
    "TrainResult",
    "TrainSettings",
    "check_multi_label",
    "plan",
    "train",
]


@dataclass
class TrainResult:
    """The trained classifier, its validation metrics, and every setting tried."""

    classifier: GenreClassifier
    validation: dict[str, Any]
    trials: list[dict[str, Any]]
    best_params: dict[str, Any]
    seconds: float


def _summary(metrics: dict[str, Any]) -> str:
    """The two held-out figures a progress line shows."""
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
    return f"micro-F1 {metrics['micro_f1']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"


def _candidates(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def train(
    dataset: Dataset,
    settings: TrainSettings | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainResult:
    """Fit ``settings.kind`` on ``dataset`` and return a ready GenreClassifier.

    Settings are chosen by ``selection.py``'s protocol: a searched grid on a hold-out slice
    then a refit; or, for a kind that chooses inside ``fit`` (``validates_in_fit``), one
    fit on all rows whose own held-out predictions are the validation metrics.
    ``progress(message, steps_done, steps_total)`` is called around each fit (the CLI draws
    a progress bar from it; the library itself stays quiet).
    """
    settings = settings or TrainSettings()
    if not dataset.has_labels:
        raise ConfigError(f"{dataset.source} has no genre labels; training needs labelled rows")
    start = time.perf_counter()
    say = progress or (lambda _msg, _done, _total: None)
    planned = plan(settings)
    settings = replace(settings, params=planned.params)
    check_multi_label(dataset, planned.cls)
    fit = _fit_validating_in_fit if planned.grid is None else _search
    return _result(dataset, settings, fit(dataset, settings, planned, say), start)


@dataclass
class _Fitted:
    """What either way of fitting gives ``_result``: the final model, its validation metrics
    and trials, the settings it ended with, how rows were held out, and the held-out
    predictions (probabilities, their labels, their row indices)."""

    model: Any
    metrics: dict[str, Any]
    trials: list[dict[str, Any]]
    params: dict[str, Any]
    protocol: dict[str, Any]
    held_out: tuple[Any, list[Any], Any]


def _search(
    dataset: Dataset, settings: TrainSettings, planned: Plan, say: Callable[[str, int, int], None]
) -> _Fitted:
    """Each candidate of the grid predicts the one hold-out slice (``held_out_proba``), the
    best by ``selection.select`` is kept, and refit on all rows where the kind allows."""
    cls, scheme = planned.cls, planned.scheme
    assert planned.grid is not None and scheme is not None  # plan() gives both or neither
    labels = list(dataset.labels or [])
    parts = scheme.parts(labels)  # one split, for every candidate
    val_idx = parts[0][1]
    candidates = _candidates(planned.grid)
    refit = selection.refits(cls)
    total = len(candidates) + int(refit)
    models: list[Any] = []

    def held_out_probas() -> Iterator[np.ndarray]:
        rows = len(dataset) - len(val_idx)
        for step, candidate in enumerate(candidates):
            params = {**settings.params, **candidate}
            say(f"fitting {settings.kind} {candidate or ''} on {rows} rows", step, total)
            with reporting(say):
                held = selection.held_out_proba(
                    lambda p=params: selection.seeded(cls, p, settings.random_state),
                    dataset.texts,
                    labels,
                    scheme,
                    parts,
                )
            models.extend(held.models)
            yield held.proba

    def announce(index: int, trial: dict[str, Any]) -> None:
        say(f"{trial['params'] or settings.kind}: validation {_summary(trial)}", index + 1, total)

    val_labels = [labels[i] for i in val_idx]
    genres = sorted({g for genres in as_sets(labels) for g in genres})  # a set of one per string
    chosen = selection.select(candidates, held_out_probas(), val_labels, genres, on_trial=announce)
    model = models[chosen.index]
    final_params = {**settings.params, **chosen.params}
    if refit:
        say(
            f"refitting {settings.kind} {chosen.params or ''} on all {len(dataset)} rows",
            total - 1,
            total,
        )
        with reporting(say):
            model = selection.seeded(cls, final_params, settings.random_state).fit(
                dataset.texts, labels
            )
        say("done", total, total)
    protocol = {"validation": "holdout", "val_fraction": scheme.val_fraction,
                "refit_on_full": refit}  # fmt: skip
    return _Fitted(
        model,
        chosen.metrics,
        chosen.trials,
        final_params,
        protocol,
        (chosen.proba, val_labels, val_idx),
    )


def _fit_validating_in_fit(
    dataset: Dataset, settings: TrainSettings, planned: Plan, say: Callable[[str, int, int], None]
) -> _Fitted:
    """One fit on all rows for a kind that chooses its settings inside ``fit`` through
    ``selection.py`` (linear: out-of-fold; blends, finetune: a hold-out slice); its held-out
    predictions are the validation metrics."""
    labels = list(dataset.labels or [])
    say(f"fitting {settings.kind} on {len(dataset)} rows (settings chosen on held-out rows)", 0, 1)
    with reporting(say):
        model = selection.seeded(planned.cls, settings.params, settings.random_state).fit(
            dataset.texts, labels
        )
    held = model.heldout()
    if held is None:
        raise ConfigError(
            f"{settings.kind} was asked not to hold rows out (calibration_folds=0 or "
            "val_fraction=0), so it has no validation metrics; pass a search grid or let it "
            "hold rows out"
        )
    held_labels = [labels[i] for i in held.index]
    rule = _label_rule(model, held.proba, held_labels)
    thresholds = None if rule is None else rule.thresholds
    val_metrics = score_any(held_labels, held.proba, model.classes_, thresholds)
    best_params = {**settings.params, **model.chosen_params()}
    say(f"{best_params}: held-out {_summary(val_metrics)}", 1, 1)
    held_out = (held.proba, held_labels, held.index)
    return _Fitted(model, val_metrics, held.trials, best_params, held.protocol, held_out)


def _result(
    dataset: Dataset, settings: TrainSettings, fitted: _Fitted, start: float
) -> TrainResult:
    """Wrap a fitted model with the metadata every trained model records.

    ``fitted.held_out`` (probabilities of rows the scoring model did not train on, their
    labels and their row indices) becomes the conformity scores that ``predict_set`` needs
    (``_conformal_scores``), and is kept with the model (``heldout.py``) so that a report on
    the training file grades the model with these predictions, never with rows it trained on.
    """
    model, val_metrics, trials, params = fitted.model, fitted.metrics, fitted.trials, fitted.params
    how: dict[str, Any] = fitted.protocol
    held_out: tuple[Any, list[Any], Any] | None = fitted.held_out
    seconds = time.perf_counter() - start
    files = [part.strip() for part in str(dataset.source).split(" + ")]
    data = "from_records(texts, labels)" if files == ["<memory>"] else f"load_dataset({files!r})"
    python = f"train({data}, {replace(settings, command=None)!r})"
    training = {
        "data": dataset.source,
        "rows": len(dataset),
        "genre_counts": dataset.genre_counts(),
        # rows left out while loading, and how the files were read (separator, mixing)
        **({"skipped_rows": dict(dataset.skipped)} if dataset.skipped else {}),
        **({"data_notes": list(dataset.notes)} if dataset.notes else {}),
        "command": settings.command or python,
        "data_fingerprint": dataset_fingerprint(dataset.texts, list(dataset.labels or [])),
        "random_state": settings.random_state,
        "params": params,
        "trials": trials,
        **how,
        "seconds": round(seconds, 2),
    }
    rule = None if held_out is None else _label_rule(model, held_out[0], held_out[1])
    if rule is not None:
        training["multi_label"] = _multi_label_record(dataset, rule, model.classes_)
        held_out = None  # coverage sets and the heldout file are single-label (module doc)
    metrics = {"validation": headline(val_metrics)}
    classifier = GenreClassifier.from_model(
        model,
        name=settings.name,
        metrics=metrics,
        training=training,
        checks=CheckSettings(),
        conformal=_conformal_scores(model, held_out),
        heldout=_training_predictions(dataset, model, held_out),
        label_rule=rule,
    )
    return TrainResult(classifier, val_metrics, trials, params, seconds)


def _label_rule(model: Any, proba: Any, labels: list[Any]) -> LabelRule | None:
    """A multi-label model's decision thresholds and recall-set data, from the held-out
    predictions of training rows (never test rows); None for a single-label model."""
    if not getattr(model, "multi_label_", False) or proba is None or not len(labels):
        return None
    return LabelRule.fit(proba, indicator(as_sets(labels), model.classes_))


def _multi_label_record(dataset: Dataset, rule: LabelRule, genres: Any) -> dict[str, Any]:
    """What the training record says about genre sets (model card, ``info``)."""
    sets = as_sets(dataset.labels or [])
    genres = [str(g) for g in genres]
    return {
        "label_cardinality": round(sum(len(s) for s in sets) / max(len(sets), 1), 3),
        "single_genre_rows": sum(len(s) == 1 for s in sets),
        "thresholds": rule.describe(genres),
        "per_genre": [g for g, own in zip(genres, rule.per_genre, strict=True) if own],
        "global_threshold": rule.global_threshold,
        "global_genres": [g for g, own in zip(genres, rule.per_genre, strict=True) if not own],
        "recall_rows": len(rule.sizes),
    }


def _training_predictions(
    dataset: Dataset, model: Any, held_out: tuple[Any, list[str], Any] | None
) -> TrainingPredictions | None:
    if held_out is None or held_out[0] is None or not len(held_out[1]):
        return None
    proba, labels, index = held_out
    if np.shape(proba) != (len(labels), len(model.classes_)):
        return None  # columns not those of the final model: nothing honest to keep
    return TrainingPredictions.from_training(dataset.texts, index, proba, labels, model.classes_)


def _conformal_scores(model: Any, held_out: tuple[Any, list[str], Any] | None) -> Any:
    """Conformity scores from out-of-fold (or validation-split) predictions, for genre sets.

    They come from models that did not see those rows (fold models, or the best candidate
    before its refit on all rows), not from the final model: hence the rank-first score
    (``TRAINING_SCORE``); benchmarks/conformal.py checks the coverage on test data.
    """
    if held_out is None or held_out[0] is None or not len(held_out[1]):
        return None
    return ConformalScores.from_proba(held_out[0], held_out[1], model.classes_, **TRAINING_SCORE)
