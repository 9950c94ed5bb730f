# Long: one kind and its presets: member training, weight choice, blending, both states.
"""Blends of the TF-IDF ``linear`` model with one partner kind, in log space.

``log p = w * log p_linear + (1 - w) * log p_partner``, renormalised and divided by a
temperature. The two models make different mistakes (words vs. meaning), so the blend beats
both. Kinds: ``ensemble`` (partner ``encoder``, the frozen MiniLM), ``blend`` (partner
``finetune``, the default model's recipe) and ``fast`` (partner ``static``, models/static.py);
any registered single kind can be the partner.

Two ways to get the held-out predictions that choose ``w`` and the temperature
(``selection.select``: the project's selection score), which are also the model's validation
metrics and its conformity scores for ``predict_set``:

- ``cv_folds=0`` (default, one partner fit): a stratified ``val_fraction`` slice
  (``selection.holdout``); both members fit on the rest. Then members whose kind is cheap to
  refit are refit on all rows (``selection.refits``); an expensive one (``finetune``) keeps its
  fit unless ``refit_all=True``. Cheap, but the slice is small (212 rows of the IMDb sample's
  2,110), so the chosen weight and the coverage of genre sets vary with it (sd ~2.7 points at
  coverage 0.8; benchmarks/RESULTS.md).
- ``cv_folds=k`` (k >= 2, k + 1 partner fits): cross-fitting, as scikit-learn's
  ``StackingClassifier`` does. Each row is predicted by members fit on the other folds, the
  weight and temperature are chosen on all rows, then both members are fit on all rows. The
  shipped default uses k = 5 on a GPU (MODEL_CARD.md).

Multi-label (genre sets, ``multilabel.py``): both members are fit on the sets, so both give
independent per-genre probabilities, and the blend is the same weighted mean taken per genre
on the log-odds, ``logit p = w * logit p_linear + (1 - w) * logit p_partner`` (a product of
the two odds, as the single-label blend is a product of the two distributions), then a
sigmoid; no temperature (each member calibrated its own sigmoids). ``w`` is chosen on the
held-out rows by ``selection.select``, which scores genre sets by micro- and macro-F1 at
per-genre thresholds chosen on them. A partner kind without genre-set support is refused, and
a model file whose members disagree (one multi-label, one not) does not load. Cross-fitting
(``cv_folds``) matters more for genre sets: training chooses a threshold per genre only where
the held-out rows hold ``multilabel.MIN_POSITIVES`` of it, which a slice of a small sample
lacks for its rare genres (they share the global threshold; benchmarks/RESULTS.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from moviegenre import selection
from moviegenre.data.split import check_folds
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models import MODEL_KINDS, model_class
from moviegenre.models.base import (
    GenreModel,
    HeldOut,
    check_number,
    check_settings,
    check_temperature,
    check_training_data,
    fit_temperature,
    log_softmax,
    sigmoid,
    softmax,
)
from moviegenre.models.linear import LinearGenreModel
from moviegenre.multilabel import is_multi_label
from moviegenre.progress import report

#: Kinds that cannot be the partner: the blends themselves, and linear (already a member).
NOT_PARTNERS = frozenset({"ensemble", "blend", "fast", "linear"})
#: Settings a partner gets inside a blend unless given: a fine-tuned partner needs no
#: validation slice of its own, the blend's slice calibrates the blend.
PARTNER_DEFAULTS: dict[str, dict[str, Any]] = {"finetune": {"val_fraction": 0.0}}

#: The blend weights of the linear model tried on validation.
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_EPS = 1e-9


def _is_partner(kind: Any) -> bool:
    return isinstance(kind, str) and kind in MODEL_KINDS and kind not in NOT_PARTNERS


def _partner_problem(kind: Any) -> str | None:
    """Why ``kind`` cannot be a blend's partner, or None when it can."""
    if _is_partner(kind):
        return None
    return f"partner must be one of {sorted(set(MODEL_KINDS) - NOT_PARTNERS)}, got {kind!r}"


def blend_logits(p_linear: np.ndarray, p_partner: np.ndarray, weight: float) -> np.ndarray:
    """Log of the weighted geometric mean of two probability matrices, renormalised per row."""
    logits = weight * np.log(p_linear + _EPS) + (1.0 - weight) * np.log(p_partner + _EPS)
    return log_softmax(logits, axis=1)


def blend(p_linear: np.ndarray, p_partner: np.ndarray, weight: float) -> np.ndarray:
    """Weighted geometric mean of two probability matrices, renormalised per row."""
    return np.exp(blend_logits(p_linear, p_partner, weight))


def log_odds(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))``, kept finite at 0 and 1 (a genre a fold's member never saw)."""
    return np.log(p + _EPS) - np.log1p(_EPS - p)


def blend_log_odds(p_linear: np.ndarray, p_partner: np.ndarray, weight: float) -> np.ndarray:
    """Per genre, the weighted mean of two members' log-odds (multi-label blend, module doc)."""
    return weight * log_odds(p_linear) + (1.0 - weight) * log_odds(p_partner)


def blend_sets(p_linear: np.ndarray, p_partner: np.ndarray, weight: float) -> np.ndarray:
    """The multi-label blend's independent per-genre probabilities."""
    return sigmoid(blend_log_odds(p_linear, p_partner, weight))


def choose_weight(
    p_linear: np.ndarray,
    p_partner: np.ndarray,
    labels: Sequence[Any],
    classes: Sequence[str],
    grid: Sequence[float],
) -> tuple[float, list[dict[str, Any]]]:
    """The grid weight whose blend of held-out rows ``selection.select`` picks (the project's
    selection score; ties go to the first weight of the grid), and every trial. Genre-set
    ``labels`` blend the members' log-odds (:func:`blend_sets`)."""
    candidates = [{"weight": float(w)} for w in grid]
    mix = blend_sets if is_multi_label(labels) else blend
    probas = (mix(p_linear, p_partner, c["weight"]) for c in candidates)
    chosen = selection.select(candidates, probas, labels, classes)
    return chosen.params["weight"], chosen.trials


def aligned(proba: np.ndarray, member_classes: Sequence[str], classes: np.ndarray) -> np.ndarray:
    """``proba`` with its columns put in ``classes`` order; a genre the member never saw (a
    fold without it) gets probability 0."""
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, np.asarray(member_classes, dtype=object))] = proba
    return out


#: The blend kinds that are EnsembleGenreModel with other defaults, as a table: each row is
#: what the kind changes ("omit": parameters it does not take). Their constructors are
#: EnsembleGenreModel's, re-signed by :func:`preset_init`, so signature, ``get_params``,
#: ``clone``, repr and model.json all show the kind's own defaults, as three ``__init__`` did.
BLEND_PRESETS: dict[str, dict[str, Any]] = {
    "blend": {"val_fraction": 0.1, "partner": "finetune"},
    "fast": {"val_fraction": 0.2, "partner": "static", "omit": ("refit_all",)},
}


def preset_init(base_init: Callable[..., None], kind: str) -> Callable[..., None]:
    """``base_init`` with the defaults of ``BLEND_PRESETS[kind]`` (and without its omitted
    parameters, which keep the base defaults), as the ``__init__`` of that kind."""
    row = dict(BLEND_PRESETS[kind])
    omit = set(row.pop("omit", ()))
    base = inspect.signature(base_init)
    unknown = (set(row) | omit) - set(base.parameters)
    if unknown:
        raise TypeError(f"BLEND_PRESETS[{kind!r}] names unknown parameters {sorted(unknown)}")
    signature = base.replace(
        parameters=[
            p.replace(default=row.get(name, p.default))
            for name, p in base.parameters.items()
            if name not in omit
        ]
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        base_init(**bound.arguments)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    # the annotations too: settings are checked against them (base.check_settings)
    __init__.__annotations__ = {k: v for k, v in base_init.__annotations__.items() if k not in omit}
    __init__.__doc__ = f"EnsembleGenreModel's settings with the {kind!r} defaults."
    __init__.__qualname__ = f"{kind}.__init__"
    return __init__


class EnsembleGenreModel(GenreModel):
    """Linear (TF-IDF + LinearSVC) and partner probabilities, blended with a chosen weight."""

    kind: ClassVar[str] = "ensemble"
    member_weights: ClassVar[dict[str, str]] = {"linear": LinearGenreModel.kind}
    validates_in_fit: ClassVar[bool] = True
    #: When the partner kind supports genre sets too (every partner kind here does); a
    #: partner that does not is refused by ``fit`` (``_members``).
    supports_multi_label: ClassVar[bool] = True

    def __init__(
        self,
        weight: float | None = None,
        linear_params: dict[str, Any] | None = None,
        partner_params: dict[str, Any] | None = None,
        val_fraction: float = 0.2,
        random_state: int = 0,
        partner: str = "encoder",
        refit_all: bool = False,
        cv_folds: int = 0,
    ) -> None:
        self.weight = weight
        self.linear_params = linear_params
        self.partner_params = partner_params
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.partner = partner
        self.refit_all = refit_all
        self.cv_folds = cv_folds

    @property
    def requires(self) -> tuple[str, ...]:  # type: ignore[override]
        """What the partner kind needs (linear needs nothing beyond the base install)."""
        if not _is_partner(self.partner):
            return ()
        return tuple(model_class(self.partner).requires)

    def _members(self) -> tuple[LinearGenreModel, GenreModel]:
        if problem := _partner_problem(self.partner):
            raise ConfigError(problem)
        partner_cls = model_class(self.partner)
        if self._multi_label() and not partner_cls.supports_multi_label:
            able = sorted(k for k in MODEL_KINDS if model_class(k).supports_multi_label)
            raise ConfigError(
                f"{self.kind}: partner {self.partner!r} cannot learn several genres per row; "
                f"partners for genre sets: {', '.join(k for k in able if _is_partner(k))}"
            )
        params = {**PARTNER_DEFAULTS.get(self.partner, {}), **(self.partner_params or {})}
        try:
            return (
                LinearGenreModel(**(self.linear_params or {})),
                model_class(self.partner)(**params),
            )
        except TypeError as exc:
            raise ConfigError(f"{self.kind}: bad member parameters ({exc})") from None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> EnsembleGenreModel:
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"weight must be in [0, 1] or None, got {self.weight}")
        check_folds(self.cv_folds, "cv_folds", zero="one validation slice")
        self.classes_ = check_training_data(texts, labels)
        self.multi_label_ = is_multi_label(labels)
        texts, labels = list(texts), list(labels)
        if self.cv_folds:
            val, p_lin, p_partner = self._cross_fit(texts, labels)
            protocol = {"validation": "cross-fit", "cv_folds": self.cv_folds}
        else:
            train, val = selection.holdout(
                labels, val_fraction=self.val_fraction, random_state=self.random_state
            )
            lin, partner, p_lin, p_partner = self._fit_members(texts, labels, train, val)
            protocol = {"validation": "holdout", "val_fraction": self.val_fraction}
        val_labels = [labels[i] for i in val]
        self.weight_trials_: list[dict[str, Any]] = []
        if self.weight is None:
            self.weight_, self.weight_trials_ = choose_weight(
                p_lin, p_partner, val_labels, self.classes_, WEIGHT_GRID
            )
        else:
            self.weight_ = float(self.weight)
        self.temperature_ = 1.0
        if self.multi_label_:
            proba = blend_sets(p_lin, p_partner, self.weight_)
        else:
            y_val = np.searchsorted(self.classes_, np.asarray(val_labels, dtype=object))
            logits = blend_logits(p_lin, p_partner, self.weight_)
            self.temperature_ = fit_temperature(logits, y_val)
            proba = softmax(logits / self.temperature_, axis=1)
        self.heldout_ = HeldOut(
            index=val, proba=proba, protocol=protocol, trials=self.weight_trials_
        )
        if self.cv_folds:
            lin, partner = self._members()
            report(f"{self.kind}: final fit on all {len(texts)} rows", 0, 1)
            lin.fit(texts, labels)
            partner.fit(texts, labels)
        else:
            for member in (lin, partner):
                if selection.refits(type(member), self.refit_all):
                    member.fit(texts, labels)
        self.linear_, self.partner_ = lin, partner
        self._check_members()
        return self

    def _multi_label(self) -> bool:
        """Whether the blend was fit on genre sets (False for one assembled by hand from
        fitted members without ``multi_label_``, as older code did)."""
        return getattr(self, "multi_label_", False)

    def _check_members(self, error: type[Exception] = ConfigError) -> None:
        """Refuse members that disagree with the blend on genre sets (one multi-label, one not):
        their probabilities are not the same kind of number and cannot be blended."""
        for name, member in (("linear", self.linear_), ("partner", self.partner_)):
            if getattr(member, "multi_label_", False) != self._multi_label():
                mine = "multi-label" if self._multi_label() else "single-label"
                raise error(
                    f"{self.kind}: the {name} member ({member.kind}) is not {mine} like the "
                    "blend; a multi-label member cannot be blended with a single-label one"
                )

    def _fit_members(
        self, texts: list[str], labels: list[str], train: np.ndarray, held: np.ndarray
    ) -> tuple[LinearGenreModel, GenreModel, np.ndarray, np.ndarray]:
        """Both members fit on the ``train`` rows, and their probabilities of the ``held``
        rows in the blend's class order."""
        lin, partner = self._members()
        train_texts, train_labels = [texts[i] for i in train], [labels[i] for i in train]
        held_texts = [texts[i] for i in held]
        lin.fit(train_texts, train_labels)
        partner.fit(train_texts, train_labels)
        return (
            lin,
            partner,
            aligned(lin.predict_proba(held_texts), lin.classes_, self.classes_),
            aligned(partner.predict_proba(held_texts), partner.classes_, self.classes_),
        )

    def _cross_fit(
        self, texts: list[str], labels: list[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row's member probabilities from members fit on the other folds."""
        folds = selection.folds(labels, n_folds=self.cv_folds, random_state=self.random_state)
        p_lin = np.zeros((len(texts), len(self.classes_)))
        p_partner = np.zeros_like(p_lin)
        for k, (train, held) in enumerate(folds, start=1):
            report(f"{self.kind}: cross-fitting fold {k}/{len(folds)}", k - 1, len(folds))
            if len(set(labels[i] for i in train)) < 2:
                raise ConfigError(
                    f"cv_folds={self.cv_folds}: a fold's training part has a single genre; "
                    "use fewer folds or more rows"
                )
            _, _, p_lin[held], p_partner[held] = self._fit_members(texts, labels, train, held)
        return np.arange(len(texts)), p_lin, p_partner

    def heldout(self) -> HeldOut | None:
        return getattr(self, "heldout_", None)

    def chosen_params(self) -> dict[str, Any]:
        return {"weight": self.weight_}

    def member_probas(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return self.linear_.predict_proba(texts), self.partner_.predict_proba(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self._combine(*self.member_probas(texts))

    def _combine(self, p_lin: np.ndarray, p_partner: np.ndarray) -> np.ndarray:
        """The blend of the members' probabilities with the fitted weight (and temperature)."""
        if self._multi_label():
            return blend_sets(p_lin, p_partner, self.weight_)
        return softmax(blend_logits(p_lin, p_partner, self.weight_) / self.temperature_, axis=1)

    # -- persistence --------------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        return {f"partner.{name}": data for name, data in self.partner_.files().items()}

    classes_in: ClassVar[str] = "config"

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        lin_config, lin_arrays = self.linear_.to_state()
        partner_config, partner_arrays = self.partner_.to_state()
        config = {
            "weight": self.weight_,
            "temperature": self.temperature_,
            "weight_trials": self.weight_trials_,
            "linear": lin_config,
            "partner": partner_config,
        }
        if self._multi_label():
            config["multi_label"] = True
        arrays = {f"linear.{k}": v for k, v in lin_arrays.items()}
        arrays.update({f"partner.{k}": v for k, v in partner_arrays.items()})
        return config, arrays

    def probe_proba(self) -> np.ndarray:
        """The blend of the members' own probes (see ``GenreModel.probe_proba``)."""
        return self._combine(self.linear_.probe_proba(), self.partner_.probe_proba())

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        if problem := _partner_problem(self.partner):
            raise ModelFileError(f"{self.kind} model {problem}")
        # member settings are used only to refit; checked alike, and a cache_dir dropped
        if self.linear_params is not None:
            self.linear_params = check_settings(LinearGenreModel, self.linear_params)
        if self.partner_params is not None:
            self.partner_params = check_settings(model_class(self.partner), self.partner_params)

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        kind = self.kind
        lin_config, partner_config = config.get("linear"), config.get("partner")
        if not isinstance(lin_config, dict) or not isinstance(partner_config, dict):
            raise ModelFileError(f"{kind} model config lacks its 'linear' and 'partner' parts")
        weight = check_number(config.get("weight"), f"{kind} model weight", 0.0, 1.0)
        temperature = check_temperature(config.get("temperature", 1.0), kind)

        def part(prefix: str, items: dict[str, Any]) -> dict[str, Any]:
            return {k[len(prefix) :]: v for k, v in items.items() if k.startswith(prefix)}

        self.linear_ = LinearGenreModel.from_state(lin_config, part("linear.", arrays))
        self.partner_ = model_class(self.partner).from_state(
            partner_config, part("partner.", arrays), part("partner.", files)
        )
        if list(self.linear_.classes_) != list(self.classes_) or list(
            self.partner_.classes_
        ) != list(self.classes_):
            raise ModelFileError(f"{kind} members disagree on the class list")
        self.weight_ = weight
        self.temperature_ = temperature
        self._check_members(ModelFileError)
        trials = config.get("weight_trials", [])
        if not isinstance(trials, list):
            raise ModelFileError(f"{kind} model weight_trials must be a list")
        self.weight_trials_ = list(trials)


class BlendGenreModel(EnsembleGenreModel):
    """The default model's recipe: ``linear`` blended with a fine-tuned MiniLM (``finetune``).

    The fine-tuned member trains once, on the rows outside the 10% validation slice, unless
    ``refit_all=True`` (then a second time on all rows: ~2x the training time). ``cv_folds=5``
    (the shipped model's setting) trains it 6 times: minutes on a GPU, hours on 2 CPU cores.
    """

    kind: ClassVar[str] = "blend"

    __init__ = preset_init(EnsembleGenreModel.__init__, "blend")
