"""The training plan: every TrainSettings field reaches every kind, or is refused (issue 23)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moviegenre.errors import ConfigError
from moviegenre.models import MODEL_KINDS, model_class
from moviegenre.selection import seeded
from moviegenre.training_plan import TrainSettings, _with_device, plan


@pytest.mark.parametrize(
    "kind, params, expected",
    [
        ("finetune", {}, {"device": "cpu"}),
        ("finetune", {"device": "cuda"}, {"device": "cuda"}),
        ("blend", {}, {"partner_params": {"device": "cpu"}}),
        ("ensemble", {"partner": "finetune"}, {"partner": "finetune",
                                              "partner_params": {"device": "cpu"}}),
        ("ensemble", {}, {}),
        ("linear", {}, {}),
    ],
)  # fmt: skip
def test_device_reaches_the_member_that_has_one(kind, params, expected):
    assert _with_device(model_class(kind), params, "cpu") == expected


#: Per kind: a parameter and a value of it (params, search), where a given val_fraction goes
#: ("slice": the searched grid's hold-out slice; "param": the kind's own val_fraction;
#: "refused": the kind holds rows out by folds), and where device "cuda" goes (None: refused).
PER_KIND = {
    "linear": ("C", 0.4, "refused", None),
    "encoder": ("C", 2.0, "slice", None),
    "static": ("C", 4.0, "slice", None),
    "finetune": ("epochs", 2, "param", {"device": "cuda"}),
    "ensemble": ("weight", 0.3, "param", None),  # partner encoder: ONNX on the CPU
    "blend": ("weight", 0.3, "param", {"partner_params": {"device": "cuda"}}),
    "fast": ("weight", 0.3, "param", None),
}


def _built(planned):
    """The model ``train`` would fit first, seeded with random_state 0 unless planned."""
    return seeded(planned.cls, planned.params, 0)


def test_the_table_covers_every_kind():
    assert set(PER_KIND) == set(MODEL_KINDS)


@pytest.mark.parametrize("kind", sorted(PER_KIND))
def test_params_reach_every_kind_and_unknown_ones_are_refused(kind):
    key, value, _, _ = PER_KIND[kind]
    assert getattr(_built(plan(TrainSettings(kind=kind, params={key: value}))), key) == value
    with pytest.raises(ConfigError, match=f"{kind} parameter 'nope' is unknown"):
        plan(TrainSettings(kind=kind, params={"nope": 1}))


@pytest.mark.parametrize("kind", sorted(PER_KIND))
def test_a_search_grid_is_searched_on_the_slice_for_every_kind(kind):
    key, value, _, _ = PER_KIND[kind]
    planned = plan(TrainSettings(kind=kind, search={key: [value]}, val_fraction=0.3))
    assert planned.grid == {key: [value]}
    assert planned.scheme.val_fraction == 0.3
    with pytest.raises(ConfigError, match="parameter 'nope' is unknown"):
        plan(TrainSettings(kind=kind, search={"nope": [1]}))
    with pytest.raises(ConfigError, match=f"parameter '{key}' is both fixed and searched"):
        plan(TrainSettings(kind=kind, params={key: value}, search={key: [value]}))


@pytest.mark.parametrize("kind", sorted(PER_KIND))
def test_val_fraction_reaches_every_kind_or_is_refused(kind):
    where = PER_KIND[kind][2]
    settings = TrainSettings(kind=kind, val_fraction=0.35)
    if where == "refused":
        with pytest.raises(ConfigError, match=f"kind '{kind}' .* val_fraction does not apply"):
            plan(settings)
        return
    planned = plan(settings)
    if where == "slice":
        assert planned.grid is not None and planned.scheme.val_fraction == 0.35
    else:
        assert planned.grid is None and _built(planned).val_fraction == 0.35
        with pytest.raises(ConfigError, match="val_fraction given twice"):
            plan(replace(settings, params={"val_fraction": 0.1}))


@pytest.mark.parametrize("kind", ["ensemble", "blend", "fast"])
def test_a_cross_fitted_blend_refuses_a_val_fraction(kind):
    with pytest.raises(ConfigError, match="cv_folds=3 cross-fits .* val_fraction does not apply"):
        plan(TrainSettings(kind=kind, params={"cv_folds": 3}, val_fraction=0.3))


@pytest.mark.parametrize("kind", sorted(PER_KIND))
def test_random_state_seeds_every_kind(kind):
    """It seeds the model where the kind has a random_state, and the searched slice."""
    planned = plan(TrainSettings(kind=kind, random_state=5))
    seeds_model = "random_state" in planned.cls().get_params()
    if seeds_model:  # what train builds: selection.seeded(cls, params, settings.random_state)
        assert seeded(planned.cls, planned.params, 5).random_state == 5
    if planned.scheme is not None:
        assert planned.scheme.random_state == 5
    assert seeds_model or planned.scheme is not None


@pytest.mark.parametrize("kind", sorted(PER_KIND))
def test_device_reaches_every_kind_that_fine_tunes_and_cuda_is_refused_elsewhere(kind):
    expected = PER_KIND[kind][3]
    assert plan(TrainSettings(kind=kind, device="cpu")).cls.kind == kind  # every kind runs there
    settings = TrainSettings(kind=kind, device="cuda")
    if expected is None:
        with pytest.raises(ConfigError, match=f"kind '{kind}' runs on the CPU only"):
            plan(settings)
    else:
        assert expected.items() <= plan(settings).params.items()
