"""What a model predicted for its training rows without training on them, kept with the model.

Training scores rows with models that did not see them: every row out-of-fold (linear), or a
validation slice (the other kinds). Those predictions are the honest figures for the model on
its own training file, so they are saved beside ``model.json`` as ``heldout.safetensors``:

- ``trained``: a hash of the text of every row the model trained on, so that a report can tell
  which rows of any file the model has seen (not only the same file: also a part of it);
- ``held_hash``, ``proba``, ``labels``: the held-out rows' text hashes, probabilities (float32,
  columns = the model's genres) and given genre (column index).

A text's hash is the first 8 bytes of the sha256 of its words joined by single spaces. The file
is untrusted input like every model file: ``serialization`` checks its size and sha256 against
``model.json`` and reads it with safetensors (never pickle); ``from_arrays`` checks every array's
type and shape, that probabilities are finite distributions and labels valid columns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from moviegenre.errors import ModelFileError

HELDOUT_FILE = "heldout.safetensors"
#: More rows than any training file this package reads; a larger array is refused unread.
MAX_ROWS = 10_000_000
_ARRAYS = ("trained", "held_hash", "proba", "labels")


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """One uint64 per text: the first 8 bytes of sha256 of its whitespace-collapsed words."""
    return np.array(
        [
            int.from_bytes(hashlib.sha256(" ".join(t.split()).encode()).digest()[:8], "little")
            for t in texts
        ],
        dtype=np.uint64,
    )


@dataclass
class TrainingPredictions:
    """Hashes of the training rows, and the held-out predictions of some of them."""

    trained: np.ndarray
    held_hash: np.ndarray
    proba: np.ndarray
    labels: np.ndarray

    @classmethod
    def from_training(
        cls,
        texts: Sequence[str],
        held_index: Sequence[int] | np.ndarray,
        proba: np.ndarray,
        held_labels: Sequence[str],
        genres: Sequence[str],
    ) -> TrainingPredictions:
        """From the training texts, the held-out rows' indices, probabilities and labels."""
        column = {str(g): j for j, g in enumerate(genres)}
        index = np.asarray(held_index, dtype=np.int64)
        trained = text_hashes(texts)
        return cls(
            trained=trained,
            held_hash=trained[index],
            proba=np.asarray(proba, dtype=np.float32),
            labels=np.array([column[str(y)] for y in held_labels], dtype=np.int32),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], n_genres: int, where: str
    ) -> TrainingPredictions:
        """Validate arrays read from a model folder; any problem is a ModelFileError."""
        if sorted(arrays) != sorted(_ARRAYS):
            raise ModelFileError(f"{where} must hold exactly the arrays {', '.join(_ARRAYS)}")
        trained, held, proba, labels = (arrays[name] for name in _ARRAYS)
        m = len(held) if held.ndim == 1 else -1
        shapes_ok = (
            trained.dtype == np.uint64
            and held.dtype == np.uint64
            and proba.dtype == np.float32
            and labels.dtype == np.int32
            and trained.ndim == 1
            and 0 < len(trained) <= MAX_ROWS
            and 0 < m <= len(trained)
            and proba.shape == (m, n_genres)
            and labels.shape == (m,)
        )
        if not shapes_ok:
            raise ModelFileError(
                f"{where}: expected uint64 'trained' and 'held_hash', float32 'proba' with "
                f"{n_genres} columns and int32 'labels', one row per held-out text"
            )
        if not np.isfinite(proba).all() or (proba < 0).any() or (proba > 1 + 1e-4).any():
            raise ModelFileError(f"{where}: 'proba' holds values outside [0, 1]")
        if (np.abs(proba.sum(axis=1, dtype=np.float64) - 1) > 1e-3).any():
            raise ModelFileError(f"{where}: a row of 'proba' does not sum to 1")
        if (labels < 0).any() or (labels >= n_genres).any():
            raise ModelFileError(f"{where}: 'labels' must be genre columns 0-{n_genres - 1}")
        return cls(trained, held, proba, labels)

    def match(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(trained on: bool per text, row of its held-out prediction or -1) for ``texts``."""
        hashes = text_hashes(texts)
        seen = np.isin(hashes, self.trained)
        first: dict[int, int] = {}
        for row, value in enumerate(self.held_hash.tolist()):
            first.setdefault(value, row)
        held_row = np.array([first.get(h, -1) for h in hashes.tolist()], dtype=np.int64)
        return seen, held_row

    def summary(self) -> dict[str, Any]:
        """What model.json records about the file besides its checksum."""
        return {"trained_rows": int(len(self.trained)), "held_out_rows": int(len(self.held_hash))}
