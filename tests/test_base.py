"""models/base.py: the helpers every kind shares, checked against scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from moviegenre.errors import MissingDependencyError
from moviegenre.models import MODEL_KINDS, model_class
from moviegenre.models.base import GenreModel, as_float32, power_class_weights


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_power_class_weights_are_sklearns_balanced_weights_to_a_power(power):
    y = np.array([0] * 10 + [1] * 2 + [2] * 4)
    balanced = compute_class_weight("balanced", classes=np.arange(3), y=y)
    weights = power_class_weights(y, 3, power)
    assert list(weights) == [0, 1, 2]
    assert np.allclose([weights[i] for i in range(3)], balanced**power)


def test_a_class_absent_from_the_rows_gets_no_weight_and_does_not_lift_the_others():
    y = np.array([0] * 6 + [2] * 2)  # class 1 of 3 has no row in this training part
    weights = power_class_weights(y, 3, 1.0)
    assert list(weights) == [0, 2]
    assert np.allclose([weights[0], weights[2]], [8 / (3 * 6), 8 / (3 * 2)])


@pytest.mark.parametrize("column_major", [False, True])
@pytest.mark.parametrize("shape", [(1 << 16,), (256, 256), (4, 128, 128)])
def test_as_float32_casts_every_float16_bit_pattern_as_numpy_does(shape, column_major):
    """The table lookup gives numpy's cast to the bit (NaN payloads, signed zeros, infinities,
    subnormals), in the order asked for; other dtypes are cast by numpy."""
    every = np.arange(1 << 16, dtype=np.uint16).view(np.float16).reshape(shape)
    for source in (every, every[..., ::-1]):  # and a non-contiguous view
        cast = as_float32(source, column_major=column_major)
        expected = source.astype(np.float32)
        assert cast.dtype == np.float32 and cast.shape == source.shape
        assert np.array_equal(cast.view(np.uint32), expected.view(np.uint32))
        assert cast.flags.f_contiguous if column_major else cast.flags.c_contiguous
    doubles = np.linspace(-3, 3, 12).reshape(3, 4)
    assert np.array_equal(
        as_float32(doubles, column_major=column_major), doubles.astype(np.float32)
    )


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_the_state_skeleton_is_written_once_in_base(kind):
    """to_state / from_state are GenreModel's for every kind: a kind writes only its own part
    (_state, _check_loaded, _restore) and says where its classes go."""
    try:
        cls = model_class(kind)
    except MissingDependencyError:
        pytest.skip(f"{kind} needs an extra that is not installed")
    assert cls.to_state is GenreModel.to_state
    assert cls.from_state.__func__ is GenreModel.from_state.__func__
    assert cls._state is not GenreModel._state and cls._restore is not GenreModel._restore
    assert cls.classes_in in ("arrays", "config")
