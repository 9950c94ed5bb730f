"""What ``train`` will do, checked before any fit: the settings, the kind, where rows are held out.

``TrainSettings`` says how to train; ``plan`` checks every field of it against the kind and
either passes it on (parameters, device, val_fraction, random_state, a search grid) or refuses
it with one ConfigError saying why it cannot apply: no setting is silently ignored (issue 23:
``val_fraction`` had no effect on 5 of the 7 kinds). ``training.py`` runs the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moviegenre import selection
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError
from moviegenre.models import MODEL_KINDS, model_class
from moviegenre.models.base import check_params
from moviegenre.multilabel import is_multi_label


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
DEFAULT_VAL_FRACTION = selection.DEFAULT_VAL_FRACTION


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
