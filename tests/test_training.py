"""Training: validation search, refit, recorded metadata."""

from __future__ import annotations

import pytest

from moviegenre.data import from_records
from moviegenre.errors import ConfigError, ModelFileError
from moviegenre.training import TrainSettings, train
from tests.conftest import tiny_rows


@pytest.fixture(scope="module")
def dataset():
    rows = tiny_rows(60, seed=7)
    return from_records([r[3] for r in rows], [r[2] for r in rows])


def test_search_records_every_trial_and_picks_one(dataset):
    calls: list[tuple[str, int, int]] = []
    result = train(
        dataset,
        TrainSettings(search={"C": [0.1, 1.0]}),
        progress=lambda *args: calls.append(args),
    )
    assert [t["params"] for t in result.trials] == [{"C": 0.1}, {"C": 1.0}]
    assert result.best_params["C"] in (0.1, 1.0)
    assert result.validation["accuracy"] > 0.8
    info = result.classifier.info
    assert info.training["rows"] == 60 and len(info.training["data_fingerprint"]) == 64
    assert info.metrics["validation"]["accuracy"] == result.validation["accuracy"]
    assert any("refitting" in m for m, _, _ in calls)
    assert calls[-1][1:] == (3, 3) and all(done <= total for _, done, total in calls)


def test_fixed_params_are_not_searched(dataset):
    result = train(dataset, TrainSettings(params={"C": 0.3}))
    assert len(result.trials) == 1 and result.best_params == {"C": 0.3}
    assert result.classifier.model.C == 0.3


def test_refit_uses_calibration(dataset):
    model = train(dataset, TrainSettings(search={"C": [0.5]})).classifier.model
    assert model.calibration_folds == 5 and model.oof_proba_ is not None


def test_linear_default_validates_out_of_fold_on_every_row(dataset):
    calls: list[tuple[str, int, int]] = []
    result = train(dataset, progress=lambda *args: calls.append(args))
    model = result.classifier.model
    assert [t["params"]["C"] for t in result.trials] == list(model.C_grid)
    assert result.best_params == {"C": model.C_} and model.C_ in model.C_grid
    assert result.validation["rows"] == len(dataset)
    training = result.classifier.info.training
    assert training["validation"] == "out-of-fold" and training["folds"] == 5
    assert calls[-1][1:] == (1, 1)


@pytest.mark.parametrize("kind", ["linear", "finetune"])
def test_a_kind_validated_in_fit_must_hold_rows_out(dataset, kind, request):
    params = {"C": 0.5, "calibration_folds": 0}
    if kind == "finetune":
        params = {"backbone": request.getfixturevalue("tiny_backbone"), "val_fraction": 0.0,
                  "max_seq_length": 32, "epochs": 1, "max_steps_per_epoch": 1}  # fmt: skip
    with pytest.raises(ConfigError, match="asked not to hold rows out"):
        train(dataset, TrainSettings(kind=kind, params=params, device="cpu"))


@pytest.mark.parametrize(
    ("make", "settings", "error", "message"),
    [
        (lambda d: from_records(d.texts), TrainSettings(), ConfigError, "has no genre labels"),
        (lambda d: d, TrainSettings(kind="nope"), ModelFileError, "unknown model kind 'nope'"),
        (lambda d: d, TrainSettings(val_fraction=1.5), ConfigError, "val_fraction"),
    ],
)
def test_bad_training_requests(dataset, make, settings, error, message):
    with pytest.raises(error, match=message):
        train(make(dataset), settings)


@pytest.mark.parametrize("search", [None, {"C": [0.5]}])  # out-of-fold, hold-out slice
def test_single_row_genres_leave_nothing_to_hold_out(search):
    data = from_records(["aa bb cc", "dd ee ff"], ["x", "y"])
    with pytest.raises(ConfigError, match="every genre has a single row"):
        train(data, TrainSettings(search=search))


def test_a_blend_reports_its_validation_slice(dataset, tiny_backbone):
    partner = {"backbone": tiny_backbone, "max_seq_length": 32, "epochs": 1,
               "max_steps_per_epoch": 2, "batch_size": 8}  # fmt: skip
    calls: list[tuple[str, int, int]] = []
    result = train(
        dataset,
        TrainSettings(kind="blend", params={"partner_params": partner}, device="cpu"),
        progress=lambda *args: calls.append(args),
    )
    info = result.classifier.info
    assert info.training["validation"] == "holdout" and info.training["val_fraction"] == 0.1
    assert result.validation["rows"] == 5 and len(result.trials) == 11
    assert "weight" in result.best_params
    assert result.classifier.model.partner_.device == "cpu"
    assert any(m.startswith("fine-tuning epoch 1/1") for m, _, _ in calls)


@pytest.mark.parametrize(
    ("search", "rows"), [(None, 100), ({"C": [0.5]}, 20)]
)  # out-of-fold: every row; validation split: its 20%
def test_training_stores_conformity_scores_of_held_out_rows(search, rows):
    data = tiny_rows(100, seed=8)
    dataset = from_records([r[3] for r in data], [r[2] for r in data])
    scores = train(dataset, TrainSettings(search=search)).classifier.info.conformal
    assert scores is not None and len(scores) == rows
    assert scores.method == "raps" and scores.lam == 1.0 and scores.k_reg == 0


def test_random_state_seeds_the_split_and_the_model_and_is_recorded(dataset):
    result = train(dataset, TrainSettings(params={"C": 0.5}, random_state=3))
    assert result.classifier.model.random_state == 3
    training = result.classifier.info.training
    assert training["random_state"] == 3 and "seed" not in training
    fixed = train(dataset, TrainSettings(params={"C": 0.5, "random_state": 1}, random_state=3))
    assert fixed.classifier.model.random_state == 1  # a parameter given wins


def test_validation_metrics_are_the_protocols_slice_scored_by_metrics(dataset):
    """The searched candidate is scored on ``selection.holdout``'s slice by ``metrics.score``."""
    from moviegenre import selection
    from moviegenre.metrics import headline, score
    from moviegenre.models.linear import LinearGenreModel

    result = train(dataset, TrainSettings(search={"C": [0.5]}))
    labels = list(dataset.labels)
    train_idx, val_idx = selection.holdout(labels, val_fraction=0.2, random_state=0)
    candidate = LinearGenreModel(C=0.5).fit(
        [dataset.texts[i] for i in train_idx], [labels[i] for i in train_idx]
    )
    expected = score(
        [labels[i] for i in val_idx],
        candidate.predict_proba([dataset.texts[i] for i in val_idx]),
        candidate.classes_,
    )
    assert headline(result.validation) == headline(expected)
    assert result.trials == [{"params": {"C": 0.5}, **headline(expected)}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"C": "abc"},
            r"linear parameter 'C' has an invalid value 'abc' \(expected float \| None\)",
        ),
        ({"foo": 1}, "linear parameter 'foo' is unknown; the linear parameters are: C, C_grid,"),
    ],
)
def test_bad_params_are_refused_before_any_fit(dataset, params, message, monkeypatch):
    from moviegenre.models.linear import LinearGenreModel

    monkeypatch.setattr(LinearGenreModel, "fit", lambda *a: pytest.fail("fit was called"))
    with pytest.raises(ConfigError, match=message):
        train(dataset, TrainSettings(params=params))


# -- several genres per film (issue 22) ------------------------------------------------------


def test_kinds_without_genre_sets_are_refused_naming_those_with(monkeypatch):
    """Every kind learns genre sets since the encoder kinds do (issue 22): one is made not to."""
    from moviegenre.models import model_class
    from tests.conftest import tiny_multi_dataset

    kind = "static"
    monkeypatch.setattr(model_class(kind), "supports_multi_label", False)
    with pytest.raises(ConfigError, match=f"kind '{kind}' cannot learn; kinds that learn .*linear"):
        train(tiny_multi_dataset(), TrainSettings(kind=kind))


@pytest.mark.parametrize("search", [None, {"C": [0.3, 0.5]}])
def test_genre_sets_get_thresholds_from_held_out_predictions(search):
    """Thresholds and recall data come from the held-out predictions of the protocol (the
    out-of-fold rows, or the validation slice of a searched grid), never from a refit model."""
    from moviegenre.multilabel import LabelRule, as_sets, indicator
    from tests.conftest import tiny_multi_dataset

    dataset = tiny_multi_dataset()
    result = train(dataset, TrainSettings(search=search))
    info = result.classifier.info
    assert info.multi_label and info.conformal is None and info.heldout is None
    record = info.training["multi_label"]
    assert record["label_cardinality"] == pytest.approx(1.267, abs=1e-3)
    assert set(record["per_genre"]) | set(record["global_genres"]) == set(info.genres)
    if search is None:
        held = result.classifier.model.heldout()
        truth = indicator(as_sets(dataset.labels), info.genres)
        expected = LabelRule.fit(held.proba, truth)
        assert info.label_rule.thresholds.tolist() == expected.thresholds.tolist()
        assert record["recall_rows"] == len(dataset)
    else:
        from moviegenre.selection import holdout

        _, val_idx = holdout(dataset.labels, val_fraction=0.2, random_state=0)
        assert record["recall_rows"] == len(val_idx) and len(result.trials) == 2
    assert {"micro_f1", "macro_f1", "hit_at_1"} <= set(result.validation)
    assert info.training["genre_counts"]["comedy"] == sum("comedy" in s for s in dataset.labels)


# -- every TrainSettings field reaches every kind, or is refused (issue 23) -------------------


def test_val_fraction_takes_effect_for_a_searched_linear_and_is_refused_out_of_fold(dataset):
    """linear's out-of-fold validation ignores a hold-out share, so one is refused, not
    silently dropped; with a search grid the share is the validation slice."""
    for fraction in (0.2, 0.5):
        result = train(dataset, TrainSettings(search={"C": [0.5]}, val_fraction=fraction))
        expected = len(selection_holdout(dataset, fraction))
        assert result.validation["rows"] == expected
        assert result.classifier.info.training["val_fraction"] == fraction
    with pytest.raises(ConfigError, match="kind 'linear' chooses its settings out-of-fold"):
        train(dataset, TrainSettings(val_fraction=0.5))


def selection_holdout(dataset, fraction):
    from moviegenre import selection

    return selection.holdout(list(dataset.labels), val_fraction=fraction, random_state=0)[1]


def test_name_and_command_are_recorded(dataset):
    """Recorded by ``_result`` the same way whatever the kind."""
    result = train(dataset, TrainSettings(params={"C": 0.5}, name="mine", command="made by hand"))
    assert result.classifier.info.name == "mine"
    assert result.classifier.info.training["command"] == "made by hand"
