"""The result types of a prediction and the top-k ranking, shared by classifier and explain.

They sit below both, so that explain (which ranks genres too) never imports the classifier.
One schema serves every way out: ``Prediction.to_dict`` is a result of the CLI's ``--json``,
of the API's ``/v1/predict`` and of Python callers alike, and :func:`predictions_payload` is
the whole document both print (``{"model": NAME, "results": [...]}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: (genre, probability) pairs, most probable first.
GenreScores = list[tuple[str, float]]
#: Decimals of the probabilities in every result document (CLI ``--json``, API, ``to_dict``).
#: More digits are noise: the default's int8 network moves a probability by up to ~1e-6
#: between runs in different batches (benchmarks/int8_scales.py). Python's ``genres`` keep
#: the full floats.
DECIMALS = 6


def _scores(pairs: GenreScores) -> list[dict[str, Any]]:
    return [{"genre": g, "probability": round(float(p), DECIMALS)} for g, p in pairs]


@dataclass
class Prediction:
    """One text's result: top genres with probabilities, or why the text was refused."""

    genres: GenreScores = field(default_factory=list)
    error: str | None = None
    code: str | None = None
    truncated: bool = False
    #: The conformal genre set (``classify(coverage=...)``), most probable first.
    genre_set: GenreScores | None = None
    #: The coverage a set was asked for (None: no set asked); a refused text has no set.
    coverage: float | None = None
    #: Multi-label models only: the genres assigned to the text (each at or above its
    #: decision threshold, at least the most probable one), most probable first. None for a
    #: single-label model, whose answer is ``genres[0]``.
    labels: GenreScores | None = None
    #: Multi-label models only: the mean share of a film's true genres that ``genre_set``
    #: was asked to hold (``classify(recall=...)``, conformal risk control); None otherwise.
    recall: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def genre(self) -> str | None:
        """The most probable genre, or None for a refused text."""
        return self.genres[0][0] if self.genres else None

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data: ``genres``, ``error``, ``code``, ``truncated`` always;
        ``labels`` only for a multi-label model; ``set`` only when a set was asked for
        (``coverage``, or ``recall`` for a multi-label model), null for a refused text;
        probabilities to DECIMALS places.
        """
        out: dict[str, Any] = {
            "genres": _scores(self.genres),
            "error": self.error,
            "code": self.code,
            "truncated": self.truncated,
        }
        if self.labels is not None:
            out["labels"] = _scores(self.labels)
        if self.coverage is not None or self.recall is not None or self.genre_set is not None:
            out["set"] = None if self.genre_set is None else _scores(self.genre_set)
        return out


def predictions_payload(model: str, results: Sequence[Prediction]) -> dict[str, Any]:
    """What ``moviegenre predict --json`` prints and ``POST /v1/predict`` returns: the model's
    name and one :meth:`Prediction.to_dict` per text, in the order of the texts."""
    return {"model": model, "results": [r.to_dict() for r in results]}


def top_k_of(proba: np.ndarray, genres: Sequence[str], top_k: int) -> list[GenreScores]:
    """The ``top_k`` (genre, probability) pairs of each row, most probable first."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top_k]
    return [
        [(genres[j], float(row[j])) for j in idx] for row, idx in zip(proba, order, strict=True)
    ]
