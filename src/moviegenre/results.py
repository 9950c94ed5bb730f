"""The result types of a prediction and the top-k ranking, shared by classifier and explain.

They sit below both, so that explain (which ranks genres too) never imports the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: (genre, probability) pairs, most probable first.
GenreScores = list[tuple[str, float]]


@dataclass
class Prediction:
    """One text's result: top genres with probabilities, or why the text was refused."""

    genres: GenreScores = field(default_factory=list)
    error: str | None = None
    code: str | None = None
    truncated: bool = False
    #: The conformal genre set (``classify(coverage=...)``), most probable first.
    genre_set: GenreScores | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def genre(self) -> str | None:
        """The most probable genre, or None for a refused text."""
        return self.genres[0][0] if self.genres else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "genres": [{"genre": g, "probability": p} for g, p in self.genres],
            "error": self.error,
            "code": self.code,
            "truncated": self.truncated,
        }
        if self.genre_set is not None:
            out["set"] = [{"genre": g, "probability": p} for g, p in self.genre_set]
        return out


def top_k_of(proba: np.ndarray, genres: Sequence[str], top_k: int) -> list[GenreScores]:
    """The ``top_k`` (genre, probability) pairs of each row, most probable first."""
    order = np.argsort(-proba, axis=1, kind="stable")[:, :top_k]
    return [
        [(genres[j], float(row[j])) for j in idx] for row, idx in zip(proba, order, strict=True)
    ]
