"""A seeded stratified train/validation split that survives classes with one or two examples.

scikit-learn's ``train_test_split(stratify=...)`` refuses a class with a single row; the IMDb
sample has genres with 4 rows, and a user's data may have singletons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

from moviegenre.errors import ConfigError


def stratified_split(
    labels: Sequence[str] | np.ndarray, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train_idx, val_idx): each class sends round(n * val_fraction) rows to val.

    A class of 1 stays wholly in train; a class of n >= 2 keeps at least 1 row on each side.
    The same labels and seed always give the same split.
    """
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not (math.isfinite(val_fraction) and 0 < val_fraction < 1):
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    labels = list(labels)
    if not labels:
        raise ConfigError("cannot split an empty list of labels")

    by_class: dict[object, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)

    rng = np.random.default_rng(int(seed))
    train: list[int] = []
    val: list[int] = []
    # Sorted classes: the rng draws happen in the same order whatever the row order of classes.
    for label in sorted(by_class, key=str):
        rows = np.array(by_class[label])
        n = len(rows)
        n_val = 0 if n == 1 else min(max(round(n * val_fraction), 1), n - 1)
        shuffled = rng.permutation(rows)
        val.extend(shuffled[:n_val].tolist())
        train.extend(shuffled[n_val:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64)
