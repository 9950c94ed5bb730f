"""Model selection, defined once for every kind: held-out rows, the score, the best, the refit.

Held-out rows come from the one stratified splitter (``split.py``): a hold-out slice
(:func:`holdout`) or k folds (:func:`folds`), named together by a :class:`Scheme`; what any
kind predicts for held-out rows is :func:`held_out_proba` (training, the label audit). A kind
may offer a faster out-of-fold hook (``out_of_fold_proba``: linear builds features once per
fold and calibrates on the pooled out-of-fold scores) but no protocol of its own. Each
candidate setting is scored on its held-out predictions by ``metrics.score`` and ranked by
``metrics.selection_score``; ties go to the first candidate (:func:`select`). Then the chosen
setting is refit on all rows where the kind allows it (:func:`refits`). training.py searches a
kind's grid this way; kinds that choose a setting inside ``fit`` (linear: C out-of-fold, on
features built once per fold; the blends: the weight on a slice) call the same functions, so no
kind has a protocol of its own. Probabilities are calibrated once, the same way: one softmax
temperature (``models.base.fit_temperature``; per-genre sigmoids ``fit_platt`` for genre sets)
fitted on held-out scores that these functions gave; it lives in ``models.base`` beside the
softmax it tunes, as this module never imports ``models`` (tests/test_imports.py).

Genre sets (multi-label rows) are stratified by each row's rarest genre (``split.strata``),
so rare genres spread over folds as in single-label data; a candidate is scored at per-genre
thresholds chosen on its own held-out predictions (``multilabel.choose_thresholds``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moviegenre.data.split import (
    check_folds,
    check_fraction,
    check_random_state,
    strata,
    stratified_folds,
    stratified_split,
)
from moviegenre.errors import ConfigError
from moviegenre.metrics import headline, score_any, selection_score
from moviegenre.multilabel import as_sets, choose_thresholds, indicator, is_multi_label

#: Why held-out validation is impossible, said the same way by every protocol.
TOO_FEW_ROWS = (
    "every genre has a single row, so no row can be held out; give each genre at least 2 rows"
)


def check(val_fraction: float, random_state: int) -> None:
    """Refuse a bad hold-out share or random_state before anything is fitted, whichever
    protocol the kind uses."""
    check_fraction(val_fraction)
    check_random_state(random_state)


def holdout(
    labels: Sequence[str] | np.ndarray,
    *,
    val_fraction: float,
    random_state: int,
    required: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train_idx, val_idx) of a stratified hold-out slice of ``val_fraction``.

    Every genre with 2+ rows keeps a row on each side. ``required`` refuses an empty slice
    (all genres singletons); otherwise the caller goes without validation rows.
    """
    train, val = stratified_split(labels, val_fraction=val_fraction, random_state=random_state)
    if required and len(val) == 0:
        raise ConfigError(f"the validation split is empty: {TOO_FEW_ROWS}")
    return train, val


def folds(
    labels: Sequence[str] | np.ndarray, *, n_folds: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (train_idx, held_idx) folds; each row is held out once.

    ``n_folds`` is lowered to the size of the largest genre (a genre can't fill more folds
    than it has rows), never below 2.
    """
    labels = strata(labels)
    counts = np.unique(np.asarray(labels, dtype=object), return_counts=True)[1]
    if counts.max() < 2:
        raise ConfigError(f"nothing to cross-validate: {TOO_FEW_ROWS}")
    n_folds = max(2, min(int(n_folds), int(counts.max())))
    return stratified_folds(labels, n_folds=n_folds, random_state=random_state)


#: The hold-out share of a slice when none is given (``TrainSettings.val_fraction`` None).
DEFAULT_VAL_FRACTION = 0.2


@dataclass(frozen=True)
class Scheme:
    """Which training rows are held out: a stratified slice of ``val_fraction``, or
    ``n_folds`` stratified folds (cross-fitting: every row is held out once)."""

    val_fraction: float = DEFAULT_VAL_FRACTION  # unused with n_folds
    n_folds: int | None = None
    random_state: int = 0

    @classmethod
    def slice(cls, val_fraction: float, random_state: int = 0) -> Scheme:
        check(val_fraction, random_state)
        return cls(val_fraction=float(val_fraction), random_state=random_state)

    @classmethod
    def folds(cls, n_folds: int, random_state: int = 0) -> Scheme:
        check_random_state(random_state)
        return cls(n_folds=check_folds(n_folds, "folds"), random_state=random_state)

    def parts(self, labels: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (train_idx, held_idx) pairs of this scheme for ``labels``."""
        if self.n_folds:
            return folds(labels, n_folds=self.n_folds, random_state=self.random_state)
        return [holdout(labels, val_fraction=self.val_fraction, random_state=self.random_state)]


@dataclass
class HeldOutProba:
    """Probabilities of the held-out rows ``index`` (sorted), one column per genre of
    ``classes`` (sorted), each row from a model that did not train on it; ``models`` are the
    fitted model of each part (none when a kind's hook answered)."""

    index: np.ndarray
    proba: np.ndarray
    classes: list[str]
    models: list[Any] = field(default_factory=list)


def seeded(cls: Any, params: dict[str, Any], random_state: int) -> Any:
    """A new ``cls`` with ``params``, seeded by ``random_state`` unless ``params`` seed it."""
    if "random_state" in cls().get_params():
        params = {"random_state": random_state, **params}
    return cls(**params)


def held_out_proba(
    factory: Callable[[], Any],
    texts: Sequence[str],
    labels: Sequence[Any],
    scheme: Scheme,
    parts: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> HeldOutProba:
    """Each held-out row's probabilities from a fresh model (``factory()``) fitted on the
    other rows of its part of ``scheme``.

    With folds, a model whose kind has an ``out_of_fold_proba(texts, labels, n_folds,
    random_state)`` hook gives them itself, holding out the same folds (:func:`folds`).
    Columns a part's model never saw (a genre absent from its training rows) stay 0.
    ``parts`` are ``scheme.parts(labels)`` when made already (a searched grid makes its
    split once for every candidate).
    """
    classes = sorted({str(g) for genres in as_sets(labels) for g in genres})
    column = {g: j for j, g in enumerate(classes)}
    model = factory()
    hook = getattr(model, "out_of_fold_proba", None)
    parts = scheme.parts(labels) if parts is None else parts
    placed: list[tuple[np.ndarray, list[int], np.ndarray]] = []
    models: list[Any] = []
    if scheme.n_folds and hook is not None:
        part, part_classes = hook(texts, labels, scheme.n_folds, scheme.random_state)
        placed.append((np.arange(len(labels)), [column[str(c)] for c in part_classes], part))
    else:
        for k, (train_idx, held_idx) in enumerate(parts):
            fitted = model if k == 0 else factory()  # a fresh model per part
            fitted.fit([texts[i] for i in train_idx], [labels[i] for i in train_idx])
            part = fitted.predict_proba([texts[i] for i in held_idx])
            placed.append((held_idx, [column[str(c)] for c in fitted.classes_], part))
            models.append(fitted)
    # the models' own dtype: a slice's matrix is exactly what its model predicted
    proba = np.zeros((len(labels), len(classes)), dtype=np.result_type(*(p for *_, p in placed)))
    for rows, cols, part in placed:
        proba[np.ix_(rows, cols)] = part
    index = np.sort(np.concatenate([rows for rows, *_ in placed]))
    return HeldOutProba(index, proba[index], classes, models)


def trial(params: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """How one candidate is recorded: its settings and headline held-out scores."""
    return {"params": dict(params), **headline(metrics)}


@dataclass
class Selection:
    """The chosen candidate, its held-out metrics and probabilities, and every trial."""

    index: int
    params: dict[str, Any]
    metrics: dict[str, Any]
    proba: np.ndarray
    trials: list[dict[str, Any]]


def select(
    candidates: Sequence[dict[str, Any]],
    held_out_probas: Iterable[np.ndarray],
    labels: Sequence[str],
    classes: Sequence[str],
    on_trial: Callable[[int, dict[str, Any]], None] | None = None,
) -> Selection:
    """The candidate whose held-out probabilities have the best ``metrics.selection_score``.

    ``held_out_probas`` gives one (rows x classes) matrix per candidate, in order, for the
    rows whose true ``labels`` are given; it may be a generator that fits lazily. Genre-set
    ``labels`` are scored at thresholds chosen on each candidate's own predictions.
    ``on_trial(index, trial)`` is told each candidate's scores as soon as they are known.
    """
    trials: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, Any], np.ndarray] | None = None
    for index, (params, proba) in enumerate(zip(candidates, held_out_probas, strict=True)):
        thresholds = None
        if is_multi_label(labels):
            thresholds, _ = choose_thresholds(proba, indicator(as_sets(labels), classes))
        metrics = score_any(labels, proba, classes, thresholds)
        trials.append(trial(params, metrics))
        if on_trial is not None:
            on_trial(index, trials[-1])
        if best is None or selection_score(metrics) > best[0]:
            best = (selection_score(metrics), index, metrics, proba)
    if best is None:
        raise ConfigError("model selection needs at least one candidate setting")
    _, index, metrics, proba = best
    return Selection(index, dict(candidates[index]), metrics, proba, trials)


def refits(cls: Any, refit_all: bool = False) -> bool:
    """Whether the chosen setting of ``cls`` is refit on every row after selection: yes unless
    its fit is costly and early-stopped (``refit_on_full = False``) and ``refit_all`` is off."""
    return bool(refit_all or cls.refit_on_full)
