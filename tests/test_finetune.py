"""The ``finetune`` kind on a tiny random BERT: recipe, ONNX export, serving without torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models import model_class
from moviegenre.models.finetune import FinetuneGenreModel, _schedule
from moviegenre.progress import reporting
from moviegenre.serialization import load_model, save_model
from tests.conftest import TINY_GENRES, predict_without_torch, tiny_multi_rows, tiny_rows

pytest.importorskip("torch")
pytest.importorskip("transformers")

TINY = dict(max_seq_length=32, batch_size=8, epochs=2, max_steps_per_epoch=3, lr=1e-3)


@pytest.fixture(scope="module")
def data():
    rows = tiny_rows(40, seed=2)
    return [r[3] for r in rows], [r[2] for r in rows]


@pytest.fixture(scope="module")
def fitted(data, tiny_backbone):
    return FinetuneGenreModel(backbone=tiny_backbone, **TINY, val_fraction=0.25).fit(*data)


def test_fit_follows_the_estimator_contract_and_records_history(fitted, tiny_backbone):
    unfitted = FinetuneGenreModel(backbone=tiny_backbone)
    assert not hasattr(unfitted, "classes_")
    assert clone(unfitted).get_params() == unfitted.get_params()
    assert list(fitted.classes_) == sorted(TINY_GENRES)
    assert model_class("finetune") is FinetuneGenreModel
    assert [h["epoch"] for h in fitted.history_] == [1, 2]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy"} <= set(fitted.history_[0])
    assert fitted.temperature_ > 0 and fitted.onnx_[:4] != b"" and fitted.device_ == "cpu"


def test_recipe_defaults_are_the_documented_ones():
    params = FinetuneGenreModel().get_params()
    expected = dict(lr=5e-5, head_lr=1e-3, weight_decay=0.01, warmup_fraction=0.1, dropout=0.1)
    expected |= dict(batch_size=16, epochs=6, class_weight_power=0.5, max_seq_length=256)
    assert {k: params[k] for k in expected} == expected and params["quantize"] is True


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [_schedule(s, total=20, warmup=2) for s in range(20)]
    assert lrs[0] == 0.5 and lrs[1] == 1.0 and lrs[2] == 1.0
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False)) and lrs[-1] == pytest.approx(
        1 / 18
    )
    assert _schedule(20, total=20, warmup=2) == 0.0


def test_probabilities_and_progress(data, tiny_backbone):
    calls = []
    with reporting(lambda message, done, total: calls.append((message, done, total))):
        model = FinetuneGenreModel(backbone=tiny_backbone, **TINY, val_fraction=0.0).fit(*data)
    proba = model.predict_proba(data[0][:7])
    assert proba.shape == (7, len(TINY_GENRES)) and np.allclose(proba.sum(axis=1), 1)
    steps = [c for c in calls if c[0].startswith("fine-tuning")]
    assert [c[1] for c in steps] == list(range(1, 7)) and {c[2] for c in steps} == {6}
    assert model.temperature_ == 1.0 and "val_loss" not in model.history_[0]


def test_same_seed_same_model(data, fitted, tiny_backbone):
    again = FinetuneGenreModel(backbone=tiny_backbone, **TINY, val_fraction=0.25).fit(*data)
    assert np.allclose(again.predict_proba(data[0][:5]), fitted.predict_proba(data[0][:5]))


def test_saved_model_lists_graph_and_tokenizer_with_checksums(data, fitted, tmp_path):
    save_model(fitted, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    for name in ("encoder.onnx", "tokenizer.json"):
        assert meta["files"][name]["bytes"] == (tmp_path / "m" / name).stat().st_size
        assert len(meta["files"][name]["sha256"]) == 64
    assert sorted(meta["requires"]) == ["onnxruntime", "tokenizers"]
    # the saved tokenizer neither pads nor truncates beyond the model's length
    saved = json.loads((tmp_path / "m" / "tokenizer.json").read_text())
    assert saved["padding"] is None and saved["truncation"]["max_length"] == 32
    loaded, _ = load_model(tmp_path / "m")
    assert np.array_equal(loaded.predict_proba(data[0]), fitted.predict_proba(data[0]))
    assert json.loads((tmp_path / "m" / "history.json").read_text())["epochs"][0]["epoch"] == 1


def test_fp32_export_matches_int8_closely(data, tiny_backbone):
    fp32 = FinetuneGenreModel(backbone=tiny_backbone, **TINY, quantize=False).fit(*data)
    int8 = FinetuneGenreModel(backbone=tiny_backbone, **TINY, quantize=True).fit(*data)
    assert len(int8.onnx_) < len(fp32.onnx_)
    diff = np.abs(fp32.predict_proba(data[0]) - int8.predict_proba(data[0])).max()
    assert diff < 0.1


def test_saved_model_loads_and_predicts_without_torch(data, fitted, tmp_path):
    save_model(fitted, tmp_path / "m")
    assert predict_without_torch(tmp_path / "m", data[0][0]) == fitted.predict([data[0][0]])[0]


@pytest.mark.parametrize(
    "damage, message",
    [
        ("drop_graph", "lacks encoder.onnx"),
        ("garbage_graph", "cannot load the ONNX graph"),
        ("garbage_tokenizer", "cannot read the tokenizer"),
    ],
)
def test_damaged_files_are_refused(fitted, tmp_path, damage, message):
    config, arrays = fitted.to_state()
    files = fitted.files()
    if damage == "drop_graph":
        del files["encoder.onnx"]
    elif damage == "garbage_graph":
        files["encoder.onnx"] = b"not an onnx graph"
    else:
        files["tokenizer.json"] = b"{not json"
    with pytest.raises(ModelFileError, match=message):
        FinetuneGenreModel.from_state(config, arrays, files)


def test_graph_for_other_genres_is_refused(fitted):
    config, arrays = fitted.to_state()
    from moviegenre.models.base import strings_to_array

    arrays["classes"] = strings_to_array(["a", "b", "c"])
    with pytest.raises(ModelFileError, match="gives 5 scores per text"):
        FinetuneGenreModel.from_state(config, arrays, fitted.files())


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": 0}, "lr must be > 0"),
        ({"max_seq_length": 4}, "max_seq_length"),
        ({"max_seq_length": 4096}, "max_seq_length must be <="),
        ({"device": "tpu"}, "device"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"backbone": "bert-xxl"}, "unknown backbone"),
    ],
)
def test_bad_settings_refused(data, tiny_backbone, params, fragment):
    with pytest.raises(ConfigError, match=fragment):
        FinetuneGenreModel(**{"backbone": tiny_backbone, **params}).fit(*data)


def test_cuda_asked_without_a_gpu_is_refused(data, tiny_backbone, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        FinetuneGenreModel(backbone=tiny_backbone, max_seq_length=32, device="cuda").fit(*data)


def test_a_text_gets_the_same_probabilities_alone_and_in_any_batch(fitted, data):
    """int8 activations are quantized per text (export.per_text_scales): neither the other
    texts of a batch nor their padding change a text's numbers."""
    texts = [t[:60] for t in data[0][:5]]  # short: padded next to the long companion
    alone = np.vstack([fitted.predict_proba([t]) for t in texts])
    long = " ".join(data[0][5:9])
    for batch in ([long, *texts], [*texts[::-1], long]):
        together = fitted.predict_proba(batch)
        got = together[1:] if batch[0] == long else together[:-1][::-1]
        np.testing.assert_allclose(got, alone, atol=1e-5)


def test_per_text_scales_refuses_a_graph_it_does_not_know():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from moviegenre.models.export import per_text_scales

    weight = numpy_helper.from_array(np.ones((4, 3), dtype=np.int8), "w")
    weight_zero = numpy_helper.from_array(np.zeros(3, dtype=np.int8), "wz")
    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
            helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["y"]),  # no Cast, Mul
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 4]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.INT32, ["b", "s", 3])],
        [weight, weight_zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match="not followed by Cast and Mul"):
        per_text_scales(model)
    graph.input[0].type.tensor_type.shape.dim.add().dim_value = 1  # rank 4
    with pytest.raises(ValueError, match="rank 4"):
        per_text_scales(onnx.ModelProto(graph=graph, opset_import=model.opset_import))


# -- multi-label: genre sets, a binary cross-entropy head -----------------------------------


@pytest.fixture(scope="module")
def multi_data():
    return tiny_multi_rows(45, seed=3)


@pytest.fixture(scope="module")
def multi_fitted(multi_data, tiny_backbone):
    params = dict(TINY, epochs=3, val_fraction=0.3)
    return FinetuneGenreModel(backbone=tiny_backbone, **params).fit(*multi_data)


def test_multi_label_probabilities_are_sigmoids_of_the_graph_logits(multi_fitted, multi_data):
    from moviegenre.models.backbone import encode

    assert multi_fitted.multi_label_ is True and FinetuneGenreModel.supports_multi_label
    texts = multi_data[0][:9]
    proba = multi_fitted.predict_proba(texts)
    tok, _ = multi_fitted._runtime()
    logits = multi_fitted._logits(encode(tok, texts)).astype(np.float64)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-6)
    assert proba.shape == (9, len(TINY_GENRES)) and ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # independent per genre, not a distribution
    assert multi_fitted.temperature_ == 1.0


def test_multi_label_history_keeps_the_best_epoch_and_heldout_is_per_genre(multi_fitted):
    history = multi_fitted.history_
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_micro_f1", "val_macro_f1"} <= set(history[0])
    assert "train_accuracy" not in history[0] and "val_accuracy" not in history[0]
    # the project's selection score for genre sets: mean of micro- and macro-F1
    scores = [(h["val_micro_f1"] + h["val_macro_f1"]) / 2 for h in history]
    assert multi_fitted.best_epoch_ == 1 + scores.index(max(scores))  # ties: the earlier
    held = multi_fitted.heldout()
    assert held.proba.shape == (len(held.index), len(TINY_GENRES))
    assert held.protocol == {"validation": "holdout", "val_fraction": 0.3}
    assert [t["params"] for t in held.trials] == [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]
    assert [t["micro_f1"] for t in held.trials] == [h["val_micro_f1"] for h in history]


def test_multi_label_best_epoch_weights_are_the_ones_served(multi_data, tiny_backbone, monkeypatch):
    """The epoch with the best validation score is kept, not the last one: a score that
    peaks at epoch 1 gives the network as it was after epoch 1."""
    import moviegenre.models.finetune as finetune

    scores = iter([0.9, 0.1, 0.2])
    monkeypatch.setattr(finetune, "selection_score", lambda metrics: next(scores))
    params = dict(TINY, epochs=3, val_fraction=0.3, quantize=False)
    model = FinetuneGenreModel(backbone=tiny_backbone, **params).fit(*multi_data)
    monkeypatch.undo()
    one = dict(params, epochs=1)
    # the same seed, one epoch of the 3-epoch schedule: the same weights as epoch 1 above
    monkeypatch.setattr(finetune, "_schedule", lambda s, total, warmup: _three_epochs(s, model))
    first = FinetuneGenreModel(backbone=tiny_backbone, **one).fit(*multi_data)
    assert model.best_epoch_ == 1 and first.best_epoch_ == 1
    texts = multi_data[0][:6]
    np.testing.assert_allclose(model.predict_proba(texts), first.predict_proba(texts), atol=1e-5)


def _three_epochs(step: int, model: FinetuneGenreModel) -> float:
    """The learning-rate factor of ``step`` in the 3-epoch run of ``model`` (3 steps each)."""
    return _schedule(step, total=9, warmup=max(1, round(0.1 * 9)))


def test_multi_label_pos_weight_and_prior_shift_correction(tiny_backbone):
    model = FinetuneGenreModel(backbone=tiny_backbone, class_weight_power=0.5)
    model.classes_, model.multi_label_ = np.array(["a", "b", "c"], dtype=object), True
    y = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32)
    # a: 1 positive of 4 -> (3/1)^0.5; b: 3 of 4 -> (1/3)^0.5; c: no positive -> 1
    np.testing.assert_allclose(model._loss_weights(y), [3**0.5, 3**-0.5, 1.0])
    model.class_weight_power = 0.0
    np.testing.assert_allclose(model._loss_weights(y), [1.0, 1.0, 1.0])


def test_multi_label_save_load_is_bit_identical_and_torch_free(multi_fitted, multi_data, tmp_path):
    save_model(multi_fitted, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["config"]["multi_label"] is True
    loaded, _ = load_model(tmp_path / "m")
    assert loaded.multi_label_ is True and loaded.best_epoch_ == multi_fitted.best_epoch_
    from moviegenre.report import read_history

    _, best, _ = read_history(tmp_path / "m")  # the report marks the epoch kept
    assert best == multi_fitted.best_epoch_
    texts = multi_data[0]
    assert np.array_equal(loaded.predict_proba(texts), multi_fitted.predict_proba(texts))
    top = multi_fitted.predict([texts[4]])[0]
    assert predict_without_torch(tmp_path / "m", texts[4]) == top


def test_single_label_files_stay_single_label(fitted):
    config, _ = fitted.to_state()
    assert "multi_label" not in config and fitted.multi_label_ is False
    again = FinetuneGenreModel.from_state(config, *_arrays_and_files(fitted))
    assert again.multi_label_ is False


def _arrays_and_files(model):
    return model.to_state()[1], model.files()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"multi_label": "yes"}, "'multi_label' must be true or false"),
        ({"multi_label": True, "best_epoch": 0}, "best_epoch must be an epoch"),
        ({"multi_label": True}, "best_epoch must be an epoch"),
    ],
)
def test_a_bad_multi_label_record_is_refused(fitted, change, message):
    config, arrays = fitted.to_state()
    with pytest.raises(ModelFileError, match=message):
        FinetuneGenreModel.from_state({**config, **change}, arrays, fitted.files())
