"""Blends: ``ensemble`` (linear + encoder) and ``blend`` (linear + finetune), on a tiny BERT."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.models import model_class
from moviegenre.models.ensemble import (
    BlendGenreModel,
    EnsembleGenreModel,
    blend,
    blend_sets,
    choose_weight,
)
from moviegenre.serialization import load_model, save_model
from tests.conftest import TINY_GENRES, predict_without_torch, tiny_multi_rows, tiny_rows

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
    weight, trials = choose_weight(a, b, ["x", "x"], ["x", "y"], [0.0, 1.0])
    assert weight == 1.0 and len(trials) == 2
    assert trials[1]["params"] == {"weight": 1.0}
    assert trials[1]["accuracy"] == trials[1]["macro_f1"] == 1.0


@pytest.fixture(scope="module")
def encoder_params(tiny_backbone, tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    return {"backbone": tiny_backbone, "backend": "torch", "inference_backend": None,
            "max_seq_length": 32, "cache_dir": cache}  # fmt: skip


@pytest.fixture(scope="module")
def finetune_params(tiny_backbone):
    return {"backbone": tiny_backbone, "max_seq_length": 32, "batch_size": 8, "epochs": 2,
            "max_steps_per_epoch": 3, "lr": 1e-3}  # fmt: skip


def test_ensemble_fit_save_load_identical(data, encoder_params, tmp_path):
    model = EnsembleGenreModel(partner_params=encoder_params)
    assert clone(model).get_params() == model.get_params() and not hasattr(model, "classes_")
    model.fit(*data)
    assert 0.0 <= model.weight_ <= 1.0 and len(model.weight_trials_) == 11
    assert list(model.classes_) == sorted(TINY_GENRES) and model_class("ensemble") is type(model)
    proba = model.predict_proba(data[0])
    assert np.allclose(proba.sum(axis=1), 1) and model.temperature_ > 0
    assert (model.predict(data[0]) == np.array(data[1])).mean() >= 0.9
    save_model(model, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "ensemble" and loaded.weight_ == model.weight_
    assert np.array_equal(loaded.predict_proba(data[0]), proba)


def test_linear_member_has_its_own_file_identical_to_it_saved_alone(
    data, encoder_params, tmp_path, monkeypatch
):
    """What lets the bundled ``linear`` share the default blend's copy of its weights; and a
    blend saved before member files (all arrays in weights.safetensors) still loads."""
    model = EnsembleGenreModel(partner_params=encoder_params).fit(*data)
    save_model(model, tmp_path / "blend")
    save_model(model.linear_, tmp_path / "linear")
    member = (tmp_path / "blend" / "linear.weights.safetensors").read_bytes()
    assert member == (tmp_path / "linear" / "weights.safetensors").read_bytes()
    monkeypatch.setattr(EnsembleGenreModel, "member_weights", {})
    save_model(model, tmp_path / "one-file")
    assert not (tmp_path / "one-file" / "linear.weights.safetensors").exists()
    monkeypatch.undo()
    for folder in ("blend", "one-file"):
        loaded, _ = load_model(tmp_path / folder)
        assert np.array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))


def test_heldout_predictions_cover_the_validation_slice(data, encoder_params):
    model = EnsembleGenreModel(partner_params=encoder_params, val_fraction=0.2).fit(*data)
    held = model.heldout()
    assert held.protocol == {"validation": "holdout", "val_fraction": 0.2}
    assert len(held.index) == 10 and held.proba.shape == (10, len(TINY_GENRES))
    assert np.allclose(held.proba.sum(axis=1), 1) and held.trials == model.weight_trials_


def test_fixed_weight_and_bad_settings(data, encoder_params):
    model = EnsembleGenreModel(weight=0.25, partner_params=encoder_params).fit(*data)
    assert model.weight_ == 0.25 and model.weight_trials_ == []
    with pytest.raises(ConfigError, match="weight"):
        EnsembleGenreModel(weight=2.0).fit(*data)
    for partner in ("blend", "linear", "nope"):
        with pytest.raises(ConfigError, match="partner must be one of"):
            EnsembleGenreModel(partner=partner).fit(*data)
    with pytest.raises(ConfigError, match="bad member parameters"):
        EnsembleGenreModel(partner_params={"no_such": 1}).fit(*data)


def test_too_few_rows_for_a_validation_slice_is_refused(encoder_params):
    texts, labels = [r[3] for r in tiny_rows(5, seed=1)], [r[2] for r in tiny_rows(5, seed=1)]
    with pytest.raises(ConfigError, match="at least 2 rows"):
        EnsembleGenreModel(partner_params=encoder_params).fit(texts, labels)


@pytest.fixture(scope="module")
def blended(data, finetune_params):
    return BlendGenreModel(partner_params=finetune_params).fit(*data)


def test_blend_is_linear_plus_finetune_and_keeps_the_expensive_fit(blended, data, monkeypatch):
    assert model_class("blend") is BlendGenreModel and blended.partner == "finetune"
    assert blended.val_fraction == 0.1 and blended.partner_.val_fraction == 0.0
    assert sorted(blended.requires) == ["onnxruntime", "tokenizers"]
    n_val = len(blended.heldout().index)
    # linear is refit on every row; the fine-tuned member keeps its fit on the training part
    assert len(data[0]) - n_val == blended.partner_.history_[0]["train_rows"]
    assert (blended.predict(data[0]) == np.array(data[1])).mean() >= 0.9


def test_refit_all_refits_the_expensive_member(data, finetune_params):
    model = BlendGenreModel(partner_params=finetune_params, refit_all=True).fit(*data)
    assert model.partner_.history_[0]["train_rows"] == len(data[0])


def test_blend_saves_partner_files_and_serves_without_torch(blended, data, tmp_path):
    save_model(blended, tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert "partner.encoder.onnx" in names and "partner.tokenizer.json" in names
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "blend"
    assert np.array_equal(loaded.predict_proba(data[0]), blended.predict_proba(data[0]))
    assert predict_without_torch(tmp_path / "m", data[0][3]) == blended.predict([data[0][3]])[0]


@pytest.mark.parametrize("cv_folds", [-1, 1, 2.5, True, "5"])
def test_bad_cv_folds_is_refused_before_fitting(data, cv_folds):
    with pytest.raises(ConfigError, match="cv_folds"):
        BlendGenreModel(cv_folds=cv_folds).fit(*data)


def test_cross_fit_scores_every_row_out_of_fold_then_fits_both_members_on_all(
    data, finetune_params, monkeypatch
):
    from moviegenre.models.linear import LinearGenreModel

    fitted_rows: list[int] = []
    real_fit = LinearGenreModel.fit

    def spy(self, texts, labels):
        fitted_rows.append(len(texts))
        return real_fit(self, texts, labels)

    monkeypatch.setattr(LinearGenreModel, "fit", spy)
    model = BlendGenreModel(partner_params=finetune_params, cv_folds=3).fit(*data)
    # three fold fits, each without its fold's rows (which it then scores), then one on all
    assert len(fitted_rows) == 4 and sum(fitted_rows[:3]) == 2 * len(data[0])
    assert fitted_rows[3] == len(data[0])
    held = model.heldout()
    assert held.protocol == {"validation": "cross-fit", "cv_folds": 3}
    assert list(held.index) == list(range(len(data[0])))  # every row is a calibration row
    assert np.allclose(held.proba.sum(axis=1), 1) and len(model.weight_trials_) == 11
    # the members that answer were fit on every row, after the folds
    assert model.partner_.history_[0]["train_rows"] == len(data[0])
    assert model.linear_.predict_proba(data[0]).shape == (len(data[0]), len(TINY_GENRES))


def test_cross_fit_aligns_a_genre_missing_from_a_fold(encoder_params):
    """A genre with one row is absent from one fold's training part: its column is 0 there."""
    rows = tiny_rows(40, seed=3)
    texts, labels = [r[3] for r in rows], [r[2] for r in rows]
    labels[0] = "rare"
    model = EnsembleGenreModel(partner_params=encoder_params, cv_folds=2).fit(texts, labels)
    assert "rare" in model.classes_ and model.heldout().proba.shape[1] == len(model.classes_)


def test_aligned_puts_member_columns_in_the_blend_order():
    from moviegenre.models.ensemble import aligned

    out = aligned(np.array([[0.3, 0.7]]), ["b", "d"], np.array(["a", "b", "c", "d"], dtype=object))
    assert out.tolist() == [[0.0, 0.3, 0.0, 0.7]]


# -- multi-label: both members on genre sets, blended per genre on the log-odds ---------------


@pytest.fixture(scope="module")
def multi_data():
    return tiny_multi_rows(60, seed=9)


@pytest.fixture(scope="module")
def multi_blended(multi_data, finetune_params):
    return BlendGenreModel(partner_params=finetune_params, val_fraction=0.3).fit(*multi_data)


def test_multi_label_blend_is_a_sigmoid_of_the_weighted_log_odds(multi_blended, multi_data):
    model, texts = multi_blended, multi_data[0]
    assert model.multi_label_ and model.linear_.multi_label_ and model.partner_.multi_label_
    p_lin, p_partner = model.member_probas(texts)
    w = model.weight_

    def log_odds(p):
        return np.log(p + 1e-9) - np.log(1 - p + 1e-9)

    expected = 1 / (1 + np.exp(-(w * log_odds(p_lin) + (1 - w) * log_odds(p_partner))))
    proba = model.predict_proba(texts)
    np.testing.assert_allclose(proba, expected, rtol=1e-6)
    assert not np.allclose(proba.sum(axis=1), 1) and model.temperature_ == 1.0
    held = model.heldout()
    assert held.proba.shape == (len(held.index), len(TINY_GENRES)) and len(held.trials) == 11
    assert {"micro_f1", "macro_f1"} <= set(held.trials[0]) and "accuracy" not in held.trials[0]


def test_choose_weight_on_genre_sets_picks_the_member_that_separates_them():
    truth = [("x",), ("x", "y"), ("y",), ("x",)]
    good = np.array([[0.9, 0.1], [0.8, 0.9], [0.2, 0.7], [0.7, 0.3]])
    bad = good[:, ::-1]  # swaps the genres: wrong on every row
    weight, trials = choose_weight(good, bad, truth, ["x", "y"], [0.0, 1.0])
    assert weight == 1.0 and trials[1]["micro_f1"] == 1.0 > trials[0]["micro_f1"]
    np.testing.assert_allclose(blend_sets(good, bad, 1.0), good, atol=1e-6)


def test_multi_label_blend_saves_loads_bit_identically_and_serves_without_torch(
    multi_blended, multi_data, tmp_path
):
    save_model(multi_blended, tmp_path / "m")
    loaded, info = load_model(tmp_path / "m")
    assert info.kind == "blend" and loaded.multi_label_
    texts = multi_data[0]
    assert np.array_equal(loaded.predict_proba(texts), multi_blended.predict_proba(texts))
    top = multi_blended.predict([texts[5]])[0]
    assert predict_without_torch(tmp_path / "m", texts[5]) == top


def test_a_multi_label_member_beside_a_single_label_one_is_refused(multi_blended, blended):
    config, arrays = multi_blended.to_state()
    assert config["multi_label"] is True and config["partner"]["multi_label"] is True
    files = {f"partner.{k}": v for k, v in multi_blended.partner_.files().items()}
    single = {**config["partner"]}
    del single["multi_label"]
    with pytest.raises(ModelFileError, match="multi-label member cannot be blended"):
        BlendGenreModel.from_state({**config, "partner": single}, arrays, files)
    with pytest.raises(ModelFileError, match="multi-label member cannot be blended"):
        BlendGenreModel.from_state({**blended.to_state()[0], "multi_label": True}, *_parts(blended))


def _parts(model):
    return model.to_state()[1], {f"partner.{k}": v for k, v in model.partner_.files().items()}


def test_a_partner_without_genre_set_support_is_refused(multi_data, finetune_params, monkeypatch):
    from moviegenre.models.finetune import FinetuneGenreModel

    monkeypatch.setattr(FinetuneGenreModel, "supports_multi_label", False)
    with pytest.raises(ConfigError, match="partner 'finetune' cannot learn several genres"):
        BlendGenreModel(partner_params=finetune_params).fit(*multi_data)


def test_multi_label_ensemble_with_a_frozen_encoder_partner(multi_data, encoder_params):
    model = EnsembleGenreModel(partner_params=encoder_params, cv_folds=2).fit(*multi_data)
    assert model.multi_label_ and model.heldout().protocol["validation"] == "cross-fit"
    proba = model.predict_proba(multi_data[0])
    truth = np.array([[g in s for g in model.classes_] for s in multi_data[1]])
    assert ((proba >= 0.5) == truth).mean() >= 0.9


def test_training_a_multi_label_blend_gives_genre_sets_and_recall_sets(finetune_params):
    """Through training.py (ml-core's thresholds on this blend's held-out rows): the saved
    classifier is multi-label, assigns genres above their thresholds and gives recall sets."""
    from moviegenre.training import TrainSettings, train
    from tests.conftest import tiny_multi_dataset

    dataset = tiny_multi_dataset(60, seed=10)
    params = {"partner_params": finetune_params, "val_fraction": 0.3}
    classifier = train(dataset, TrainSettings(kind="blend", params=params)).classifier
    assert classifier.info.multi_label
    (prediction,) = classifier.classify([dataset.texts[0]], check=False, recall=0.9)
    assert prediction.labels and prediction.recall == 0.9 and prediction.genre_set
    assert prediction.to_dict()["labels"]


# -- the blend presets: one constructor, a table of defaults ------------------------------


def test_blend_presets_are_the_ensembles_constructor_with_their_rows_defaults():
    import inspect
    import typing

    from moviegenre.models.base import check_settings
    from moviegenre.models.ensemble import BLEND_PRESETS, EnsembleGenreModel, preset_init
    from moviegenre.models.static import FastGenreModel

    base = inspect.signature(EnsembleGenreModel.__init__).parameters
    for cls in (model_class("blend"), FastGenreModel):
        row = dict(BLEND_PRESETS[cls.kind])
        omitted = set(row.pop("omit", ()))
        params = inspect.signature(cls.__init__).parameters
        assert list(params) == [name for name in base if name not in omitted]
        for name, p in params.items():
            assert p.default == row.get(name, base[name].default), (cls.kind, name)
        assert cls().get_params() == {n: p.default for n, p in params.items() if n != "self"}
        positional = cls(0.3, None, None, 0.5)  # the order of the one constructor
        assert (positional.weight, positional.val_fraction) == (0.3, 0.5)
        assert clone(cls(cv_folds=3)).get_params()["cv_folds"] == 3
        hints = typing.get_type_hints(cls.__init__)  # what settings are checked against
        assert set(hints) - {"return"} == set(params) - {"self"}
        assert check_settings(cls, {"val_fraction": 0.3}) == {"val_fraction": 0.3}
    with pytest.raises(TypeError, match="refit_all"):
        FastGenreModel(refit_all=True)  # fast never took it
    assert FastGenreModel().refit_all is False
    BLEND_PRESETS["typo"] = {"val_fractoin": 0.1}
    try:
        with pytest.raises(TypeError, match="val_fractoin"):
            preset_init(EnsembleGenreModel.__init__, "typo")
    finally:
        del BLEND_PRESETS["typo"]
