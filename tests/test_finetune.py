"""The ``finetune`` kind on a tiny random BERT: recipe, ONNX export, serving without torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.modelio import load_model, save_model
from moviegenre.models import model_class
from moviegenre.models.finetune import FinetuneGenreModel, _schedule
from moviegenre.progress import reporting
from tests.conftest import TINY_GENRES, predict_without_torch, tiny_rows

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
