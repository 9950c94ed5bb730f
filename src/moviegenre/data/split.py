"""The one stratified splitter: a seeded train/validation split, and seeded stratified k folds.

scikit-learn's ``train_test_split(stratify=...)`` refuses a class with a single row; the IMDb
sample has genres with 4 rows, and a user's data may have singletons. The k folds are
scikit-learn's ``StratifiedKFold`` (shuffled), which only warns about classes rarer than k.

Genre sets (multi-label rows) are stratified by their rarest genre (:func:`strata`): every
genre, however rare, then reaches both sides as a single-label class would, which stratifying
on whole combinations (mostly singletons among 1-3 of 22 genres) would not give.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from moviegenre.errors import ConfigError


def check_random_state(random_state: object) -> int:
    """``random_state`` as an int, refused unless it is a non-negative integer."""
    if isinstance(random_state, bool) or not isinstance(random_state, Integral) or random_state < 0:
        raise ConfigError(f"random_state must be a non-negative integer, got {random_state!r}")
    return int(random_state)


def check_fraction(val_fraction: object) -> float:
    """``val_fraction`` as a float, refused unless it is a number in (0, 1)."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, Real):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not (math.isfinite(val_fraction) and 0 < val_fraction < 1):
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    return float(val_fraction)


def strata(labels: Sequence[Any] | np.ndarray) -> list[Any]:
    """The class each row is stratified by: its label, or for a genre set its rarest genre
    (fewest rows over ``labels``; ties go to the name first in alphabetical order)."""
    labels = list(labels)
    if not any(isinstance(label, tuple | list) for label in labels):  # names (or class indices)
        return labels
    sets = [(label,) if isinstance(label, str) else tuple(label) for label in labels]
    rows = Counter(g for genres in sets for g in set(genres))
    return [min(genres, key=lambda g: (rows[g], g)) if genres else "" for genres in sets]


def stratified_split(
    labels: Sequence[str] | np.ndarray, *, val_fraction: float = 0.2, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train_idx, val_idx): each class sends round(n * val_fraction) rows to val.

    ``labels`` are genre names or genre sets (stratified by :func:`strata`).

    A class of 1 stays wholly in train; a class of n >= 2 keeps at least 1 row on each side.
    The same labels and random_state always give the same split.
    """
    check_fraction(val_fraction)
    rng = np.random.default_rng(check_random_state(random_state))
    labels = strata(labels)
    if not labels:
        raise ConfigError("cannot split an empty list of labels")

    by_class: dict[object, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)

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


def check_folds(n_folds: Any, what: str = "the number of folds", zero: str = "") -> int:
    """``n_folds`` as an int >= 2 (or 0, when ``zero`` says what 0 means), else one ConfigError
    naming ``what``; booleans and floats are refused."""
    whole = isinstance(n_folds, Integral) and not isinstance(n_folds, bool)
    if whole and (n_folds >= 2 or (zero and n_folds == 0)):
        return int(n_folds)
    allowed = f"0 ({zero}) or an integer >= 2" if zero else "an integer >= 2"
    raise ConfigError(f"{what} must be {allowed}, got {n_folds!r}")


def stratified_folds(
    labels: Sequence[str] | np.ndarray, *, n_folds: int = 5, random_state: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` (train_idx, held_idx) pairs; every row is held out exactly once.

    Classes rarer than ``n_folds`` are spread over as many folds as they have rows.
    """
    from sklearn.model_selection import StratifiedKFold  # here: predicting never needs it

    splitter = StratifiedKFold(
        check_folds(n_folds), shuffle=True, random_state=check_random_state(random_state)
    )
    labels = np.asarray(strata(labels), dtype=object)
    with warnings.catch_warnings():  # classes rarer than the fold count: sklearn only warns
        warnings.simplefilter("ignore", UserWarning)
        return list(splitter.split(np.zeros(len(labels)), labels))
