"""``ModelInfo``: everything ``model.json`` says about a model besides its weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from moviegenre._version import __version__
from moviegenre.conformal import ConformalScores
from moviegenre.heldout import TrainingPredictions
from moviegenre.models import GenreModel
from moviegenre.multilabel import LabelRule
from moviegenre.serialization.schema import FORMAT_NAME, FORMAT_VERSION


@dataclass
class ModelInfo:
    """Everything ``model.json`` says about a model besides its weights."""

    kind: str
    genres: list[str]
    config: dict[str, Any]
    name: str = "moviegenre"
    created: str = ""
    moviegenre_version: str = __version__
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    #: Conformity scores for ``predict_set`` (optional "conformal" key of model.json).
    conformal: ConformalScores | None = None
    #: Training rows' text hashes and held-out predictions (optional "heldout" key: the
    #: checksum of heldout.safetensors); written beside model.json by ``save_model``.
    heldout: TrainingPredictions | None = None
    #: Whether the model gives one independent probability per genre (fitted on genre sets).
    multi_label: bool = False
    #: A multi-label model's decision thresholds and recall-set data (optional "multi_label"
    #: key of model.json; a multi-label model saved without one decides at 0.5).
    label_rule: LabelRule | None = None

    def to_json(self) -> dict[str, Any]:
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "created": self.created,
            "moviegenre_version": self.moviegenre_version,
            "genres": self.genres,
            "requires": self.requires,
            "config": self.config,
            "training": self.training,
            "metrics": self.metrics,
        }
        if self.conformal is not None:
            meta["conformal"] = self.conformal.to_json()
        if self.label_rule is not None:
            meta["multi_label"] = self.label_rule.to_json(self.genres)
        return meta

    @classmethod
    def of(cls, model: GenreModel, **fields: Any) -> ModelInfo:
        """What a fitted ``model`` says about itself, with ``fields`` (name, metrics...) added.

        Built from its settings (``get_params``), never its weights: ``to_state`` (~21 ms for
        the linear kind) runs only when the model is saved, which writes the full config (the
        fitted scalars too) to model.json; a loaded model's ``config`` is that full config.
        """
        genres = [str(c) for c in model.classes_]
        return cls(
            kind=model.kind,
            genres=genres,
            config={"params": model.get_params(), "classes": genres},
            requires=list(model.requires),
            multi_label=is_multi_label(model),
            **fields,
        )


def is_multi_label(model: GenreModel) -> bool:
    """Whether ``model`` was fitted on genre sets (one independent probability per genre)."""
    return getattr(model, "multi_label_", False) is True
