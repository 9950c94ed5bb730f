"""models/base.py: the helpers every kind shares, checked against scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from moviegenre.models.base import power_class_weights


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
