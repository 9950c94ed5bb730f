"""The ``ensemble`` kind: TF-IDF linear model + frozen-encoder model, blended in log space.

``log p = w * log p_linear + (1 - w) * log p_partner`` (renormalised); the partner is the
``encoder`` kind here, and ``static`` for the fast tier (``models/static.py``). The two models make
different mistakes (words vs. meaning), so the blend beats both. ``weight=None`` chooses
``w`` on a seeded stratified validation slice of the training rows (by the mean of accuracy
and macro-F1, the project's selection score), then refits both members on all rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.metrics import selection_score
from moviegenre.models import model_class
from moviegenre.models.base import (
    GenreModel,
    check_classes,
    check_number,
    check_settings,
    check_training_data,
)
from moviegenre.models.encoder import EncoderGenreModel
from moviegenre.models.linear import LinearGenreModel
from moviegenre.split import stratified_split

#: Kinds that can be blended with the linear model.
PARTNERS = {"encoder", "static"}

#: The blend weights of the linear model tried on validation.
WEIGHT_GRID: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_EPS = 1e-9


def blend(p_linear: np.ndarray, p_encoder: np.ndarray, weight: float) -> np.ndarray:
    """Weighted geometric mean of two probability matrices, renormalised per row."""
    logits = weight * np.log(p_linear + _EPS) + (1.0 - weight) * np.log(p_encoder + _EPS)
    return softmax(logits, axis=1)


def choose_weight(
    p_linear: np.ndarray, p_encoder: np.ndarray, y: np.ndarray, grid: Sequence[float]
) -> tuple[float, list[dict[str, float]]]:
    """The grid weight with the best selection score (as ``train`` uses) on held-out rows."""
    trials = []
    for w in grid:
        pred = blend(p_linear, p_encoder, w).argmax(axis=1)
        acc = accuracy_score(y, pred)
        f1 = f1_score(y, pred, average="macro", labels=np.unique(y))
        trials.append({"weight": float(w), "accuracy": acc, "macro_f1": f1})
    best = max(trials, key=selection_score)
    return best["weight"], trials


class EnsembleGenreModel(GenreModel):
    """Linear (TF-IDF + LinearSVC) and partner probabilities, blended with a chosen weight."""

    kind: ClassVar[str] = "ensemble"
    requires: ClassVar[tuple[str, ...]] = EncoderGenreModel.requires

    def __init__(
        self,
        weight: float | None = None,
        linear_params: dict[str, Any] | None = None,
        partner_params: dict[str, Any] | None = None,
        val_fraction: float = 0.2,
        seed: int = 0,
        partner: str = "encoder",
    ) -> None:
        self.weight = weight
        self.linear_params = linear_params
        self.partner_params = partner_params
        self.val_fraction = val_fraction
        self.seed = seed
        self.partner = partner

    def _members(self) -> tuple[LinearGenreModel, GenreModel]:
        if self.partner not in PARTNERS:
            raise ConfigError(f"partner must be one of {sorted(PARTNERS)}, got {self.partner!r}")
        return (
            LinearGenreModel(**(self.linear_params or {})),
            model_class(self.partner)(**(self.partner_params or {})),
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> EnsembleGenreModel:
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"weight must be in [0, 1] or None, got {self.weight}")
        self.classes_ = check_training_data(texts, labels)
        texts, labels = list(texts), list(labels)
        self.weight_trials_: list[dict[str, float]] = []
        weight = self.weight
        if weight is None:
            train, val = stratified_split(labels, val_fraction=self.val_fraction, seed=self.seed)
            train_labels = [labels[i] for i in train]
            if len(val) == 0 or set(train_labels) != set(self.classes_):
                weight = 0.5  # too little data to choose: an even blend
            else:
                lin, enc = self._members()
                train_texts = [texts[i] for i in train]
                val_texts = [texts[i] for i in val]
                lin.fit(train_texts, train_labels)
                enc.fit(train_texts, train_labels)
                y_val = np.searchsorted(self.classes_, np.array([labels[i] for i in val]))
                # embeddings of validation rows are cached: the refit below needs them again
                p_partner = (
                    enc.predict_proba_embeddings(enc.embed(val_texts))
                    if isinstance(enc, EncoderGenreModel)
                    else enc.predict_proba(val_texts)
                )
                weight, self.weight_trials_ = choose_weight(
                    lin.predict_proba(val_texts), p_partner, y_val, WEIGHT_GRID
                )
        self.weight_ = float(weight)
        self.linear_, self.partner_ = self._members()
        self.linear_.fit(texts, labels)
        self.partner_.fit(texts, labels)
        return self

    def member_probas(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return self.linear_.predict_proba(texts), self.partner_.predict_proba(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        p_lin, p_enc = self.member_probas(texts)
        return blend(p_lin, p_enc, self.weight_)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        lin_config, lin_arrays = self.linear_.to_state()
        enc_config, enc_arrays = self.partner_.to_state()
        config = {
            "params": self.get_params(),
            "classes": self.classes_.tolist(),
            "weight": self.weight_,
            "weight_trials": self.weight_trials_,
            "linear": lin_config,
            "partner": enc_config,
        }
        arrays = {f"linear.{k}": v for k, v in lin_arrays.items()}
        arrays.update({f"partner.{k}": v for k, v in enc_arrays.items()})
        return config, arrays

    def probe_proba(self) -> np.ndarray:
        """The blend of the members' own probes (see ``GenreModel.probe_proba``)."""
        return blend(self.linear_.probe_proba(), self.partner_.probe_proba(), self.weight_)

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> GenreModel:
        model = cls._from_params(config)
        if model.partner not in PARTNERS:
            raise ModelFileError(
                f"{cls.kind} model partner must be one of {sorted(PARTNERS)}, got {model.partner!r}"
            )
        partner_cls = model_class(model.partner)
        # member settings are used only to refit; checked alike, and a cache_dir dropped
        if model.linear_params is not None:
            model.linear_params = check_settings(LinearGenreModel, model.linear_params)
        if model.partner_params is not None:
            model.partner_params = check_settings(partner_cls, model.partner_params)
        lin_config, enc_config = config.get("linear"), config.get("partner")
        if not isinstance(lin_config, dict) or not isinstance(enc_config, dict):
            raise ModelFileError(f"{cls.kind} model config lacks its 'linear' and 'partner' parts")
        weight = check_number(config.get("weight"), f"{cls.kind} model weight", 0.0, 1.0)

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        model.linear_ = LinearGenreModel.from_state(lin_config, part("linear."))
        model.partner_ = partner_cls.from_state(enc_config, part("partner."))
        model.classes_ = check_classes(config.get("classes"), cls.kind)
        if list(model.linear_.classes_) != list(model.classes_) or list(
            model.partner_.classes_
        ) != list(model.classes_):
            raise ModelFileError("ensemble members disagree on the class list")
        model.weight_ = weight
        trials = config.get("weight_trials", [])
        if not isinstance(trials, list):
            raise ModelFileError(f"{cls.kind} model weight_trials must be a list")
        model.weight_trials_ = list(trials)
        return model
