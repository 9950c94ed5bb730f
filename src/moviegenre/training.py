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
from dataclasses import dataclass, field, replace
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
from moviegenre.models import MODEL_KINDS, model_class
from moviegenre.models.base import check_params
from moviegenre.multilabel import LabelRule, as_sets, indicator, is_multi_label
from moviegenre.progress import reporting


@dataclass
class TrainSettings:
    """How to train: which kind, fixed parameters, what to search, how to split."""

    kind: str = "linear"
    params: dict[str, Any] = field(default_factory=dict)
    #: Parameter grid searched on validation; None means the kind's own ``search_space``.
    search: dict[str, list[Any]] | None = None
    #: The hold-out share. None: the kind's own (``DEFAULT_VAL_FRACTION`` when a grid is
    #: searched; the blends' and finetune's ``val_fraction`` parameter). Given, it is the
    #: searched grid's slice, or is passed to a kind that holds a slice out inside ``fit``;
    #: a kind that holds rows out by folds (linear: ``calibration_folds``; a blend with
    #: ``cv_folds``) refuses it: a share it would not use must not look used (``plan``).
    val_fraction: float | None = None
    #: Seeds the hold-out split and every model that has a ``random_state`` of its own.
    random_state: int = 0
    name: str = "moviegenre"
    #: Where fine-tuning runs ("auto", "cpu", "cuda"); given to every member that has a device.
    #: Kinds with no device run on the CPU: they take "auto" and "cpu" and refuse "cuda".
    device: str = "auto"
    #: The command that trains this way, recorded in model.json and the model card; None
    #: records the Python call (the CLI passes its own command line, every option spelled out).
    command: str | None = None


@dataclass
class TrainResult:
    """The trained classifier, its validation metrics, and every setting tried."""

    classifier: GenreClassifier
    validation: dict[str, Any]
    trials: list[dict[str, Any]]
    best_params: dict[str, Any]
    seconds: float


def _with_device(cls: Any, params: dict[str, Any], device: str) -> dict[str, Any]:
    """``params`` with ``device`` set on the kind, or on a blend's partner, where it has one."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {device!r}")
    defaults = cls().get_params()
    if "device" in defaults:
        return {"device": device, **params}
    partner = params.get("partner", defaults.get("partner"))
    if partner in MODEL_KINDS and "device" in model_class(partner)().get_params():
        partner_params = {"device": device, **(params.get("partner_params") or {})}
        return {**params, "partner_params": partner_params}
    if device == "cuda":
        raise ConfigError(
            f"kind {cls.kind!r} runs on the CPU only (no part of it fine-tunes), so device "
            "'cuda' does not apply; use auto or cpu, or a kind that fine-tunes (finetune, blend)"
        )
    return params


#: The hold-out share of a searched grid when ``TrainSettings.val_fraction`` is None.
DEFAULT_VAL_FRACTION = 0.2


@dataclass
class Plan:
    """How ``train`` fits a kind: its checked parameters, and where held-out rows come from:
    a searched ``grid`` on the ``scheme``'s slice, or (``grid`` None) inside ``fit``."""

    cls: Any
    params: dict[str, Any]
    grid: dict[str, list[Any]] | None
    scheme: selection.Scheme | None


def _with_val_fraction(cls: Any, params: dict[str, Any], val_fraction: float | None) -> Any:
    """``params`` with ``val_fraction`` given to a kind that holds a slice out inside ``fit``;
    a ConfigError for a kind that holds rows out by folds, or for a share given twice."""
    if val_fraction is None:
        return params
    defaults = cls().get_params()
    folds = params.get("cv_folds", defaults.get("cv_folds"))
    if "val_fraction" not in defaults or folds:
        how = f"cv_folds={folds} cross-fits" if folds else "chooses its settings out-of-fold"
        raise ConfigError(
            f"kind {cls.kind!r} {how} (every row is held out once), so val_fraction does not "
            "apply; set its folds as a parameter, or give a search grid to choose on a "
            "val_fraction slice"
        )
    if params.get("val_fraction", val_fraction) != val_fraction:
        raise ConfigError(
            f"val_fraction given twice ({val_fraction} and parameter "
            f"val_fraction={params['val_fraction']}); give it once"
        )
    return {**params, "val_fraction": val_fraction}


def _grid(cls: Any, params: dict[str, Any], search: dict[str, list[Any]] | None) -> Any:
    """The grid to search: ``search``, or the kind's ``search_space`` less the fixed
    ``params``; a searched value is checked like a parameter, and a parameter both fixed and
    searched is refused (the search would silently drop it)."""
    if search is None:
        return {k: v for k, v in cls.search_space.items() if k not in params}
    for key, values in search.items():
        if key in params:
            raise ConfigError(f"parameter {key!r} is both fixed and searched; give it once")
        if isinstance(values, str) or not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"search {key!r} must be a non-empty list of values")
        for value in values:
            check_params(cls, {key: value})
    return {k: list(v) for k, v in search.items()}


def plan(settings: TrainSettings) -> Plan:
    """Check every setting of ``settings`` against its kind before any fit: each one reaches
    the kind (parameters, device, val_fraction, random_state through ``selection.seeded``)
    or is refused with one ConfigError saying why it cannot apply."""
    cls = model_class(settings.kind)
    fraction = DEFAULT_VAL_FRACTION if settings.val_fraction is None else settings.val_fraction
    selection.check(fraction, settings.random_state)
    params = _with_device(cls, check_params(cls, settings.params), settings.device)
    if cls.validates_in_fit and settings.search is None:
        return Plan(cls, _with_val_fraction(cls, params, settings.val_fraction), None, None)
    scheme = selection.Scheme.slice(fraction, settings.random_state)
    return Plan(cls, params, _grid(cls, params, settings.search), scheme)


def check_multi_label(dataset: Dataset, cls: Any) -> bool:
    """Whether ``dataset`` holds genre sets; ConfigError when ``cls`` cannot learn them."""
    if not is_multi_label(dataset.labels or []):
        return False
    if not cls.supports_multi_label:
        able = []
        for name in sorted(MODEL_KINDS):
            try:
                if model_class(name).supports_multi_label:
                    able.append(name)
            except ImportError:  # a kind whose optional dependencies are missing
                continue
        raise ConfigError(
            f"{dataset.source} has several genres per row, which kind {cls.kind!r} cannot "
            f"learn; kinds that learn genre sets: {', '.join(able)}"
        )
    return True


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
    chosen_plan = plan(settings)
    cls, grid, scheme = chosen_plan.cls, chosen_plan.grid, chosen_plan.scheme
    settings = replace(settings, params=chosen_plan.params)
    check_multi_label(dataset, cls)
    if grid is None or scheme is None:
        return _train_self_validating(dataset, settings, cls, say, start)
    labels = list(dataset.labels or [])
    parts = scheme.parts(labels)  # one split, for every candidate
    val_idx = parts[0][1]
    candidates = _candidates(grid)
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
    training = {"validation": "holdout", "val_fraction": scheme.val_fraction,
                "refit_on_full": refit}  # fmt: skip
    return _result(
        dataset,
        settings,
        model,
        chosen.metrics,
        chosen.trials,
        final_params,
        training,
        start,
        (chosen.proba, val_labels, val_idx),
    )


def _train_self_validating(
    dataset: Dataset,
    settings: TrainSettings,
    cls: Any,
    say: Callable[[str, int, int], None],
    start: float,
) -> TrainResult:
    """One fit on all rows for a kind that chooses its settings inside ``fit`` through
    ``selection.py`` (linear: out-of-fold; blends, finetune: a hold-out slice); its held-out
    predictions are the validation metrics."""
    labels = list(dataset.labels or [])
    say(f"fitting {settings.kind} on {len(dataset)} rows (settings chosen on held-out rows)", 0, 1)
    with reporting(say):
        model = selection.seeded(cls, settings.params, settings.random_state).fit(
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
    return _result(
        dataset,
        settings,
        model,
        val_metrics,
        held.trials,
        best_params,
        held.protocol,
        start,
        (held.proba, held_labels, held.index),
    )


def _result(
    dataset: Dataset,
    settings: TrainSettings,
    model: Any,
    val_metrics: dict[str, Any],
    trials: list[dict[str, Any]],
    params: dict[str, Any],
    how: dict[str, Any],
    start: float,
    held_out: tuple[Any, list[str], Any] | None = None,
) -> TrainResult:
    """Wrap a fitted model with the metadata every trained model records.

    ``held_out`` (probabilities of rows the scoring model did not train on, their labels and
    their row indices) becomes the conformity scores that ``predict_set`` needs
    (``_conformal_scores``), and is kept with the model (``heldout.py``) so that a report on
    the training file grades the model with these predictions, never with rows it trained on.
    """
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
