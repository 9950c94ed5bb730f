"""The command line: each command end to end on tiny files, and errors without tracebacks."""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from moviegenre.baselines import BASELINES
from tests.conftest import (
    TINY_GENRE_WORDS,
    all_exit_within,
    children_of,
    hostile_genres,
    hostile_name,
    run_cli,
    tiny_rows,
)
from tests.conftest import _write_imdb as write_imdb

SRC = Path(__file__).resolve().parents[1] / "src" / "moviegenre"
SCARY = " ".join(TINY_GENRE_WORDS["horror"]) + " in the old house where the family lives now"


run = run_cli  # (exit code, stdout, stderr) of the CLI run in-process


def test_train_then_evaluate(tiny_imdb_train: Path, tiny_imdb_solution: Path, tmp_path, capsys):
    model = tmp_path / "model"
    code, out, _ = run(
        ["train", "--data", str(tiny_imdb_train), "--out", str(model), "--param", "C=0.5"], capsys
    )
    assert code == 0 and "Validation" in out and (model / "model.json").exists()
    command = json.loads((model / "model.json").read_text())["training"]["command"]
    assert "--val-fraction" not in command  # not given: linear's own out-of-fold protocol
    report = tmp_path / "eval"
    argv = ["evaluate", "--model", str(model), "--data", str(tiny_imdb_solution)]
    code, out, _ = run([*argv, "--out", str(report), "--record-as", "test"], capsys)
    assert code == 0 and "accuracy" in out and "Per genre" in out and "horror" in out
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["rows"] == 12 and (report / "confusion_matrix.png").stat().st_size > 1000
    assert json.loads((model / "model.json").read_text())["metrics"]["test"]["rows"] == 12


def test_predict_text_json(tiny_model_dir: Path, capsys):
    argv = ["predict", SCARY, "--model", str(tiny_model_dir), "--top-k", "3", "--json"]
    code, out, _ = run(argv, capsys)
    payload = json.loads(out)
    assert code == 0 and payload["model"] == "tiny-test-model"
    assert payload["results"][0]["genres"][0]["genre"] == "horror"
    assert len(payload["results"][0]["genres"]) == 3


def test_predict_refused_text_exits_1(tiny_model_dir: Path, capsys):
    code, out, _ = run(["predict", "too short", "--model", str(tiny_model_dir)], capsys)
    assert code == 1 and "refused" in out and "2 words" in out


def test_predict_no_checks(tiny_model_dir: Path, capsys):
    argv = ["predict", "haunted ghost", "--model", str(tiny_model_dir), "--no-checks"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "horror" in out


def test_predict_examples_with_bundled_model(capsys):
    code, out, _ = run(["predict", "--examples", "--top-k", "2"], capsys)
    assert code == 0 and "western" in out and "%" in out


def test_predict_file_kaggle(tiny_model_dir: Path, tiny_imdb_test: Path, tmp_path: Path, capsys):
    output = tmp_path / "submission.csv"
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(tiny_imdb_test)]
    code, out, _ = run([*argv, "--output", str(output), "--format", "kaggle"], capsys)
    rows = list(csv.reader(output.open()))
    assert code == 0 and rows[0] == ["id", "genre"] and len(rows) == 13
    assert "12 rows" in out


def test_baselines_table(tiny_imdb_train: Path, capsys):
    code, out, _ = run(["baselines", "--data", str(tiny_imdb_train)], capsys)
    assert code == 0
    for name in [*BASELINES, "moviegenre linear"]:
        assert name in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "missing.txt", "--out", "x"], "missing.txt"),
        (["predict", "--model", "no/such/dir", "hello"], "does not exist"),
        (["predict"], "give descriptions to classify"),
        (["train", "--data", "{data}", "--out", "{tmp}", "--param", "C"], "KEY=VALUE"),
        (["train", "--data", "{data}", "--out", "{tmp}", "--kind", "bert"], "unknown model kind"),
        (
            ["train", "--data", "{data}", "--out", "{tmp}", "--val-fraction", "0.3"],
            "kind 'linear' chooses its settings out-of-fold",
        ),
        (
            ["train", "--data", "{data}", "--out", "{tmp}", "--device", "cuda"],
            "kind 'linear' runs on the CPU only",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(argv, message, tiny_imdb_train, tmp_path, capsys):
    argv = [a.format(data=tiny_imdb_train, tmp=tmp_path / "m") for a in argv]
    code, _, err = run(argv, capsys)
    assert code == 2 and "error:" in err and message in err
    assert "Traceback" not in err


def test_usage_error_exits_nonzero(capsys):
    code, _, err = run(["train", "--no-such-flag"], capsys)
    assert code == 2 and "No such option" in err


def test_kaggle_format_scores_short_texts_too(tiny_model_dir: Path, tmp_path: Path, capsys):
    source = tmp_path / "test_data.txt"
    source.write_text(f"1 ::: A (2001) ::: {SCARY}\n2 ::: B (2002) ::: haunted ghost blood\n")
    output = tmp_path / "submission.csv"
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(source)]
    code, _, _ = run([*argv, "--output", str(output), "--format", "kaggle"], capsys)
    rows = list(csv.reader(output.open()))
    assert code == 0 and rows == [["id", "genre"], ["1", "horror"], ["2", "horror"]]


def test_train_on_several_files(tiny_imdb_train: Path, tiny_csv: Path, tmp_path, capsys):
    model = tmp_path / "model"
    argv = ["train", "--data", str(tiny_imdb_train), "--data", str(tiny_csv)]
    code, out, _ = run([*argv, "--out", str(model), "--param", "C=0.5"], capsys)
    meta = json.loads((model / "model.json").read_text())
    assert code == 0 and meta["training"]["rows"] == 80
    assert meta["training"]["data"] == f"{tiny_imdb_train} + {tiny_csv}"


def test_train_rejects_an_unknown_device(tiny_imdb_train: Path, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_imdb_train), "--out", str(tmp_path / "m")]
    code, _, err = run([*argv, "--device", "tpu"], capsys)
    assert code == 2 and "device must be auto, cpu or cuda" in err and "Traceback" not in err


def test_models_lists_the_bundled_models(capsys):
    code, out, _ = run(["models", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and rows[0]["default"] and {"name", "kind", "megabytes"} <= set(rows[0])
    assert [row["multi_label"] for row in rows] == [False, False]  # both bundled: one genre
    code, out, _ = run(["models"], capsys)
    assert code == 0 and "(default)" in out and rows[0]["kind"] in out


# -- genre sets, calibrate, audit --------------------------------------------------------------


def test_predict_coverage_prints_and_returns_the_set(tiny_model_dir: Path, capsys):
    argv = ["predict", SCARY, "--model", str(tiny_model_dir), "--coverage", "0.9"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "set at 90% coverage (1 of 5 genres): horror" in out
    assert "why these sets" not in out  # nothing far below the top genre: nothing to explain
    code, out, _ = run([*argv, "--json"], capsys)
    assert code == 0 and json.loads(out)["results"][0]["set"][0]["genre"] == "horror"


def test_predict_file_with_coverage_writes_a_set_column(
    tiny_model_dir: Path, tiny_imdb_test: Path, tmp_path: Path, capsys
):
    output = tmp_path / "scores.csv"
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(tiny_imdb_test)]
    code, _, _ = run([*argv, "--output", str(output), "--coverage", "0.8"], capsys)
    rows = list(csv.DictReader(output.open()))
    assert code == 0 and len(rows) == 12
    assert all(r["genre_set"].split("|")[0] == r["genre"] for r in rows)


def test_a_set_far_below_its_top_genre_says_why(tiny_model_dir: Path, tmp_path, capsys):
    """A sure answer in a wide set: the output says how the sets were sized."""
    import numpy as np

    from moviegenre.conformal import ConformalScores
    from moviegenre.serialization import record_conformal

    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    genres = sorted(TINY_GENRE_WORDS)
    truth = [genres[i % 5] for i in range(50)]  # the true genre at rank 0, 1, 2, 3, 4 in turn
    proba = np.array([np.roll([0.6, 0.2, 0.1, 0.06, 0.04], genres.index(y) - i % 5) for i, y in
                      enumerate(truth)])  # fmt: skip
    scores = ConformalScores.from_proba(proba, truth, genres, method="raps", lam=1.0, k_reg=0)
    record_conformal(model, scores)
    code, out, _ = run(["predict", SCARY, "--model", str(model), "--coverage", "0.6"], capsys)
    assert code == 0 and "set at 60% coverage (3 of 5 genres): horror" in out
    assert "why these sets: On 50 labelled texts" in out and "right for 20.0%" in " ".join(
        out.split()
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--coverage", "1.5"], "coverage must be strictly between 0 and 1"),
        (["--coverage", "0"], "coverage must be strictly between 0 and 1"),
        (["--coverage", "0.9", "--format", "kaggle", "--output", "{tmp}/s.csv"], "wide"),
    ],
)
def test_bad_coverage_is_one_line(tiny_model_dir, tiny_imdb_test, tmp_path, extra, message, capsys):
    verb = "score" if "--output" in extra else "predict"
    argv = [verb, "--model", str(tiny_model_dir)]
    argv += ["--input", str(tiny_imdb_test)] if "--output" in extra else [SCARY]
    code, _, err = run([*argv, *[a.format(tmp=tmp_path) for a in extra]], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def _strip_scores(model: Path) -> None:
    meta = json.loads((model / "model.json").read_text())
    meta.pop("conformal")
    (model / "model.json").write_text(json.dumps(meta))


def test_calibrate_adds_scores_to_an_old_model(
    tiny_model_dir: Path, tiny_imdb_solution: Path, tmp_path: Path, capsys
):
    import shutil

    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "old"))
    _strip_scores(model)
    argv = ["predict", SCARY, "--model", str(model), "--coverage", "0.9"]
    code, _, err = run(argv, capsys)
    assert code == 2 and "moviegenre calibrate --model DIR --data LABELLED_FILE" in err
    calibrate = ["calibrate", "--model", str(model), "--data", str(tiny_imdb_solution)]
    code, out, _ = run(calibrate, capsys)
    assert code == 0 and "stored 12 APS conformity scores" in out
    code, out, _ = run(argv, capsys)
    assert code == 0 and "set at 90% coverage" in out


def test_calibrate_refuses_the_training_file(tiny_imdb_train: Path, tmp_path: Path, capsys):
    model = tmp_path / "model"
    run(["train", "--data", str(tiny_imdb_train), "--out", str(model), "--param", "C=0.5"], capsys)
    code, _, err = run(["calibrate", "--model", str(model), "--data", str(tiny_imdb_train)], capsys)
    assert code == 2 and "is the file this model was trained on" in err


def test_audit_prints_tables_and_writes_files(tiny_imdb_train: Path, tmp_path: Path, capsys):
    out_dir = tmp_path / "audit"
    code, out, _ = run(["audit", "--data", str(tiny_imdb_train), "--out", str(out_dir)], capsys)
    assert code == 0 and "another genre explains the label better" in out
    assert "Flagged rows per given genre" in out and "Planted-noise check on this file" in out
    for name in ("label_issues.csv", "noise_by_genre.csv", "audit.html"):
        assert (out_dir / name).is_file()
    assert "Label audit" in (out_dir / "audit.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "--data", "{test}"], "has no labels"),
        (["audit", "--data", "{train}", "--kind", "magic"], "unknown model kind"),
        (["audit", "--data", "{train}", "--folds", "1"], "folds must be"),
        (["audit", "--data", "{train}", "--top", "-1"], "--top must be"),
        (["audit", "--data", "{train}", "--planted", "1"], "--planted must be"),
        (["audit", "--data", "{train}", "--planted", "-0.1"], "--planted must be"),
        (["report", "--data", "{test}", "--out", "{tmp}", "--audit"], "--audit needs labelled"),
    ],
)
def test_audit_errors_are_one_line(
    argv, message, tiny_imdb_train, tiny_imdb_test, tmp_path, capsys
):
    files = {"train": tiny_imdb_train, "test": tiny_imdb_test, "tmp": tmp_path / "r"}
    code, _, err = run([a.format(**files) for a in argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_report_with_audit_has_the_section(tiny_imdb_train: Path, tmp_path: Path, capsys):
    code, _, _ = run(
        ["report", "--data", str(tiny_imdb_train), "--out", str(tmp_path / "r"), "--audit"], capsys
    )
    page = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert code == 0 and "Label audit" in page and "share flagged" in page
    assert "Planted-noise check on this file" in page


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_web_page_stops_with_the_app_command(tiny_model_dir: Path, sig):
    """SIGKILL or SIGTERM on `moviegenre app` also stops the Streamlit server it started."""
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "moviegenre.cli", "app", "--model", str(tiny_model_dir)]
    command += ["--port", str(free_port())]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    children: list[int] = []
    try:
        while not (children := children_of(proc.pid)):
            assert time.monotonic() < deadline, "Streamlit was not started within 60 s"
            with pytest.raises(subprocess.TimeoutExpired):  # the poll interval; still running?
                proc.wait(timeout=0.05)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert all_exit_within(children, 20), "Streamlit outlived `moviegenre app`"
    finally:
        proc.kill()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_non_utf8_text_argument_is_one_line(tiny_model_dir: Path, capsys):
    """A byte that is not UTF-8 arrives as a lone surrogate: refused before any model sees it."""
    text = SCARY + " caf\udce9"  # b"caf\xe9" (Latin-1) as Python decodes it from argv
    code, _, err = run(["predict", "--model", str(tiny_model_dir), text], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "description 1 is not valid UTF-8 (byte 0xe9 at character" in err


def test_evaluate_prints_the_model_name_as_text(
    tiny_imdb_train, tiny_imdb_solution, tmp_path, capsys
):
    model = tmp_path / "model"
    argv = ["train", "--data", str(tiny_imdb_train), "--out", str(model), "--param", "C=0.5"]
    assert run([*argv, "--name", "[bold]evil[/bold]"], capsys)[0] == 0
    code, out, _ = run(
        ["evaluate", "--model", str(model), "--data", str(tiny_imdb_solution)], capsys
    )
    assert code == 0 and "[bold]evil[/bold]" in out


# -- issue 12: check first, then work; CLI names; progress ---------------------------------------


def _no_training(monkeypatch) -> None:
    """Make any training fail the test: these refusals must come before the fit."""

    def boom(*args, **kwargs):
        raise AssertionError("training started before the refusal")

    monkeypatch.setattr("moviegenre.training.train", boom)


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("C=abc", "linear parameter 'C' has an invalid value 'abc' (expected float | None)"),
        ("foo=1", "linear parameter 'foo' is unknown"),
    ],
)
def test_a_bad_param_names_it_and_the_valid_ones(param, message, tiny_imdb_train, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_imdb_train), "--out", str(tmp_path / "m")]
    code, _, err = run([*argv, "--param", param], capsys)
    assert code == 2 and message in err and "the linear parameters are: C, C_grid," in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m").exists()


def _existing(what: str, path: Path, model: Path) -> None:
    if what == "file":
        path.write_text("x")
    elif what == "model":
        shutil.copytree(model, path)
    else:
        path.mkdir()
        (path / "notes.txt").write_text("x")


@pytest.mark.parametrize(
    ("what", "extra", "message"),
    [
        ("file", [], "exists and is not a directory"),
        ("folder", [], "holds other files than a model"),
        ("folder", ["--overwrite"], "holds other files than a model"),
        ("model", [], "already holds a model; pass --overwrite to replace it"),
    ],
)
def test_train_refuses_an_output_before_training(
    what, extra, message, tiny_model_dir, tiny_imdb_train, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    _existing(what, out, tiny_model_dir)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _no_training(monkeypatch)
    code, _, err = run(["train", "--data", str(tiny_imdb_train), "--out", str(out), *extra], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_train_overwrite_replaces_a_model_whole(tiny_model_dir, tiny_imdb_train, tmp_path, capsys):
    out = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (out / "history.json").write_text("{}")  # a file of the old model, not of the new one
    argv = ["train", "--data", str(tiny_imdb_train), "--out", str(out), "--param", "C=0.5"]
    code, _, _ = run([*argv, "--overwrite"], capsys)
    meta = json.loads((out / "model.json").read_text())
    assert code == 0 and meta["training"]["rows"] == 60
    written = ["model.json", "MODEL_CARD.md", "heldout.safetensors", *meta["files"]]
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging


def test_record_as_refuses_a_bundled_model(tiny_imdb_solution, monkeypatch, capsys):
    written: list[Path] = []
    monkeypatch.setattr(
        "moviegenre.serialization.store._write_json", lambda path, data: written.append(path)
    )
    code, _, err = run(["evaluate", "--data", str(tiny_imdb_solution), "--record-as", "t"], capsys)
    assert code == 2 and "bundled model inside the installed package" in err
    assert "`moviegenre export blend DIR` and pass --model DIR" in err
    assert written == [] and "Traceback" not in err


def test_calibrate_refuses_a_bundled_model(tiny_imdb_solution, monkeypatch, capsys):
    written: list[Path] = []
    monkeypatch.setattr(
        "moviegenre.serialization.store._write_json", lambda path, data: written.append(path)
    )
    argv = ["calibrate", "--model", "linear", "--data", str(tiny_imdb_solution)]
    code, _, err = run(argv, capsys)
    assert code == 2 and "bundled model inside the installed package" in err and written == []
    assert "`moviegenre export linear DIR` and pass --model DIR" in err


def test_the_exported_bundled_linear_can_be_calibrated_and_recorded(
    tiny_imdb_solution, tmp_path, capsys
):
    copy = tmp_path / "my-linear"
    code, out, err = run(["export", "linear", str(copy)], capsys)
    assert code == 0 and "self-contained copy of 'linear'" in out and err == ""
    argv = ["calibrate", "--model", str(copy), "--data", str(tiny_imdb_solution)]
    code, out, err = run(argv, capsys)
    assert code == 0 and "conformity scores" in out, err
    argv = ["evaluate", "--model", str(copy), "--data", str(tiny_imdb_solution)]
    code, out, err = run([*argv, "--record-as", "tiny"], capsys)
    assert code == 0 and "recorded as 'tiny'" in out, err
    meta = json.loads((copy / "model.json").read_text())
    assert meta["metrics"]["tiny"]["rows"] == 12 and meta["conformal"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "no-such-model", "{out}"], "model directory no-such-model does not exist"),
        (["export", "linear", "{model}"], "already holds a model; pass --overwrite"),
        (["export", "linear", "{file}"], "exists and is not a directory"),
    ],
)
def test_export_errors_are_one_line(argv, message, tiny_model_dir, tmp_path, capsys):
    (tmp_path / "a-file").write_text("x")
    paths = {"out": tmp_path / "new", "model": tiny_model_dir, "file": tmp_path / "a-file"}
    code, _, err = run([a.format(**paths) for a in argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture
def taken_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_checks_the_port_before_it_announces(tiny_model_dir, taken_port, capsys):
    argv = ["serve", "--model", str(tiny_model_dir), "--port", str(taken_port)]
    code, _, err = run(argv, capsys)
    assert code == 2 and f"cannot listen on 127.0.0.1:{taken_port}" in err
    assert "serving on" not in err and "Traceback" not in err


def test_serve_checks_the_model_before_it_announces(tmp_path, capsys):
    code, _, err = run(["serve", "--model", str(tmp_path / "nothing"), "--port", "1"], capsys)
    assert code == 2 and "does not exist" in err and "serving on" not in err


@pytest.mark.parametrize("problem", ["model", "port"])
def test_app_checks_model_and_port_before_starting(
    problem, tiny_model_dir, taken_port, tmp_path, monkeypatch, capsys
):
    import subprocess

    started: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda command, **kw: started.append(command) or 0)
    model = tiny_model_dir if problem == "port" else tmp_path / "nothing"
    code, _, err = run(["app", "--model", str(model), "--port", str(taken_port)], capsys)
    assert code == 2 and started == [] and "Traceback" not in err
    assert ("cannot listen" if problem == "port" else "does not exist") in err


def test_version(capsys):
    from moviegenre import __version__

    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"moviegenre {__version__}"


@pytest.fixture
def progress_steps(monkeypatch) -> tuple[io.StringIO, list[str]]:
    """What the progress bars draw on stderr (as a terminal), and every step they were given
    (a fast run may finish between two redraws, so the drawing alone misses steps)."""
    from rich.console import Console
    from rich.progress import Progress

    buffer, steps = io.StringIO(), []
    monkeypatch.setattr(
        "moviegenre.cli._base.err_console", Console(file=buffer, force_terminal=True, width=120)
    )
    update = Progress.update

    def recording(self, task, **fields):
        steps.append(fields.get("description") or "")
        return update(self, task, **fields)

    monkeypatch.setattr(Progress, "update", recording)
    return buffer, steps


@pytest.mark.parametrize(
    ("argv", "drawn", "step"),
    [
        (["baselines", "--data", "{train}"], "training baselines", "fitting ComplementNB"),
        (["report", "--data", "{train}", "--out", "{tmp}"], "report on", "characteristic words"),
        (["train", "--data", "{train}", "--out", "{tmp}"], "training linear", "fitting linear"),
    ],
)
def test_slow_commands_show_progress_on_stderr(
    argv, drawn, step, tiny_imdb_train, tmp_path, progress_steps, capsys
):
    stderr, steps = progress_steps
    argv = [a.format(train=tiny_imdb_train, tmp=tmp_path / "out") for a in argv]
    code, out, _ = run(argv, capsys)
    assert code == 0 and drawn in stderr.getvalue() and any(step in s for s in steps)
    assert drawn not in out


def test_file_errors_name_cli_options(tmp_path, tiny_model_dir, capsys):
    source = tmp_path / "films.csv"
    source.write_text("id,plot_summary\n1,a film\n", encoding="utf-8")
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(source)]
    code, _, err = run([*argv, "--output", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "pass --text-col to choose one" in err and "text_col=" not in err


def test_every_cli_term_still_occurs_in_the_library():
    """A reworded library message would otherwise reach users with its Python names again."""
    from moviegenre.cli._base import CLI_TERMS

    library = [p for p in SRC.rglob("*.py") if "cli" not in p.parts]
    source = "".join(p.read_text(encoding="utf-8") for p in library)
    assert [term for term in CLI_TERMS if term not in source] == []


def test_a_refused_text_mentions_no_checks(tiny_model_dir, capsys):
    code, _, err = run(["predict", "too short", "--model", str(tiny_model_dir)], capsys)
    assert code == 1 and "--no-checks" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "{train}", "--out", "{tmp}", "--model", "linear"], "--kind KIND"),
        (["audit", "--data", "{train}", "--model", "linear"], "audit takes --kind KIND"),
        (["predict", "--input", "{train}"], "moviegenre score --input FILE"),
        (["predict", "--output", "{tmp}"], "moviegenre score --input FILE"),
    ],
)
def test_renamed_options_say_what_to_use(
    argv, message, tiny_imdb_train, tmp_path, monkeypatch, capsys
):
    _no_training(monkeypatch)
    code, _, err = run([a.format(train=tiny_imdb_train, tmp=tmp_path / "m") for a in argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["train", "audit", "baselines"])
def test_seed_is_random_state(command, tiny_imdb_train, tmp_path, capsys):
    argv = [command, "--data", str(tiny_imdb_train)]
    argv += ["--out", str(tmp_path / "m")] if command == "train" else []
    assert run([*argv, "--seed", "1"], capsys)[0] == 2
    assert run([*argv, "--random-state", "1"], capsys)[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", SCARY, "--top-k", "30"], "--top-k must be between 1 and"),
        (["predict", SCARY, "--batch-size", "0"], "--batch-size must be >= 1"),
        (["serve", "--max-texts", "0"], "--max-texts must be >= 1"),
        (["serve", "--timeout-request", "0"], "--timeout-request must be in (0, 3600]"),
        (["serve", "--port", "70000"], "cannot listen on 127.0.0.1:70000"),
    ],
)
def test_range_errors_name_the_cli_option(argv, message, tiny_model_dir, capsys):
    code, _, err = run([*argv, "--model", str(tiny_model_dir)], capsys)
    assert code == 2 and message in err and "_" not in err.split(" must ")[0]


# -- stdout carries results only -----------------------------------------------------------------


def test_score_leaves_no_progress_on_stdout(tiny_model_dir, tiny_imdb_test, tmp_path, capsys):
    """``moviegenre score ... > out.csv``: the bar goes to stderr, stdout keeps one line."""
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(tiny_imdb_test)]
    code, out, err = run([*argv, "--output", str(tmp_path / "o.csv")], capsys)
    assert code == 0 and out.splitlines() == [out.strip()] and out.startswith("scored 12 rows")
    assert "scoring" not in out and "━" not in out and "scoring" in err


def test_score_redirected_to_a_file_keeps_only_the_summary(
    tiny_model_dir, tiny_imdb_test, tmp_path
):
    """``moviegenre score ... > out.txt`` as a shell runs it: a real process whose stdout is a
    file (the bar used to end up in it)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "moviegenre.cli", "score", "--model", str(tiny_model_dir)]
    command += ["--input", str(tiny_imdb_test), "--output", str(tmp_path / "s.csv")]
    with (tmp_path / "out.txt").open("w", encoding="utf-8") as stdout:
        done = subprocess.run(
            command, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300
        )
    lines = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert done.returncode == 0 and len(lines) == 1 and lines[0].startswith("scored 12 rows")
    assert "scoring" in done.stderr


def test_ray_engine_error_prints_no_progress_on_stdout(
    tiny_model_dir, tiny_imdb_test, tmp_path, monkeypatch, capsys
):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the [ray] extra were not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(tiny_imdb_test)]
    code, out, err = run([*argv, "--output", str(tmp_path / "o.csv"), "--engine", "ray"], capsys)
    assert code == 2 and out == "" and 'pip install "moviegenre[ray]"' in err


# -- wording, predict - ----------------------------------------------------------------------------


def test_score_counts_read_as_english(tiny_model_dir, tmp_path, capsys):
    source = tmp_path / "one.csv"
    source.write_text(f"id,text\n1,{SCARY}\n2,too short\n", encoding="utf-8")
    argv = ["score", "--model", str(tiny_model_dir), "--input", str(source)]
    code, out, err = run([*argv, "--output", str(tmp_path / "o.csv")], capsys)
    assert code == 0 and out.startswith("scored 2 rows (1 refused) into")
    assert "hint: rows refused as too short or not English are scored with --no-checks" in err
    source.write_text(f"id,text\n1,{SCARY}\n", encoding="utf-8")
    code, out, _ = run([*argv, "--output", str(tmp_path / "p.csv")], capsys)
    assert code == 0 and out.startswith("scored 1 row (0 refused) into")


def test_predict_hint_names_texts_once(tiny_model_dir, capsys):
    code, _, err = run(["predict", "too short", "--model", str(tiny_model_dir)], capsys)
    assert code == 1
    assert "hint: texts refused as too short or not English are scored with --no-checks" in err


def _stdin(monkeypatch, data: bytes) -> None:
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_predict_dash_reads_texts_from_stdin(tiny_model_dir, monkeypatch, capsys):
    funny = " ".join(TINY_GENRE_WORDS["comedy"]) + " at the wedding of an old friend in town"
    _stdin(monkeypatch, f"{SCARY}\n{funny}\r\n".encode())
    argv = ["predict", "-", "--model", str(tiny_model_dir), "--json"]
    code, out, _ = run(argv, capsys)
    genres = [r["genres"][0]["genre"] for r in json.loads(out)["results"]]
    assert code == 0 and genres == ["horror", "comedy"]


@pytest.mark.parametrize(
    ("argv", "data", "message"),
    [
        (["-"], b"", "stdin was empty"),
        (["-"], b"caf\xe9 society\n", "line 1 of stdin is not valid UTF-8 (byte 0xe9"),
        (["-", "-"], b"x\n", "'-' (read descriptions from stdin) may be given only once"),
    ],
)
def test_predict_dash_errors_are_one_line(argv, data, message, tiny_model_dir, monkeypatch, capsys):
    _stdin(monkeypatch, data)
    code, out, err = run(["predict", *argv, "--model", str(tiny_model_dir)], capsys)
    assert code == 2 and message in err and out == "" and len(err.strip().splitlines()) == 1


def test_linear_training_reports_real_steps(tiny_imdb_train, tmp_path, progress_steps, capsys):
    """The train bar moves through the cross-validation fits, not 0/1 for the whole fit."""
    _, steps = progress_steps
    code, _, _ = run(
        ["train", "--data", str(tiny_imdb_train), "--out", str(tmp_path / "m")], capsys
    )
    folds = [s for s in steps if s.startswith("linear: cross-validation fit")]
    assert code == 0 and len(folds) >= 5 and any("final fit on all 60 rows" in s for s in steps)


#: A run of each command that has --json ({model}: the tiny model, {train}: a labelled file).
JSON_RUNS = {
    "predict": ["predict", SCARY, "too short", "--model", "{model}", "--coverage", "0.9"],
    "models": ["models"],
}


def _json_commands() -> set[str]:
    import typer

    from moviegenre.cli._base import app

    group = typer.main.get_command(app)
    return {
        name
        for name, command in getattr(group, "commands", {}).items()
        if any("--json" in param.opts for param in command.params)
    }


def test_every_json_command_is_checked():
    assert _json_commands() == set(JSON_RUNS), "add the new --json command to JSON_RUNS"


@pytest.mark.parametrize("command", sorted(JSON_RUNS))
def test_json_output_parses(command, tiny_model_dir, tiny_imdb_train, capsys):
    """stdout of ``--json`` is one JSON document, also when a text is refused (exit 1)."""
    argv = [a.format(model=tiny_model_dir, train=tiny_imdb_train) for a in JSON_RUNS[command]]
    code, out, _ = run([*argv, "--json"], capsys)
    assert code in (0, 1) and json.loads(out)


# -- issue 19: strings from a model or data file are plain text ---------------------------------


@pytest.fixture
def wide_console(monkeypatch) -> None:
    """A console wide enough that no table cell wraps, so a string is found whole."""
    from moviegenre.cli import _base

    monkeypatch.setattr(_base.console, "width", 400)


@pytest.fixture
def hostile_solution(tmp_path: Path) -> Path:
    """Labelled rows whose genres are those of the hostile model (markup)."""
    genres = hostile_genres("http://127.0.0.1:9")
    rows = [(i, t, genres[g], d) for i, t, g, d in tiny_rows(20, seed=1)]
    return write_imdb(tmp_path / "hostile_solution.txt", rows, labelled=True)


def test_predict_prints_a_model_genres_as_text(hostile_model_dir, wide_console, capsys):
    texts = [d for _, _, _, d in tiny_rows(5, seed=9)]
    argv = ["predict", *texts, "--model", str(hostile_model_dir), "--top-k", "5"]
    code, out, _ = run([*argv, "--coverage", "0.9"], capsys)
    assert code == 0
    for genre in hostile_genres("http://127.0.0.1:9").values():
        assert f"  {genre}" in out
    listed = next(line for line in out.splitlines() if "set at 90% coverage (" in line)
    listed = listed.split("genres): ", 1)[1]  # the set's genres, printed as they are
    assert listed and set(listed.split(", ")) <= set(hostile_genres("http://127.0.0.1:9").values())


def test_evaluate_and_audit_print_genres_and_names_as_text(
    hostile_model_dir, hostile_solution, wide_console, capsys
):
    code, out, _ = run(
        ["evaluate", "--model", str(hostile_model_dir), "--data", str(hostile_solution)], capsys
    )
    assert code == 0 and hostile_name("http://127.0.0.1:9") in " ".join(out.split())  # wrapped
    assert all(f" {g} " in out for g in hostile_genres("http://127.0.0.1:9").values())
    code, out, _ = run(["audit", "--data", str(hostile_solution), "--folds", "2"], capsys)
    assert code == 0 and "[bold red]doc[/bold red] [w] " in out


def test_models_prints_a_bundled_model_name_as_text(monkeypatch, wide_console, capsys):
    from moviegenre import classifier

    row = {"name": "[w] [red]x[/red]", "kind": "linear", "megabytes": 1.0, "default": True}
    row["card"] = "/models/[w]/MODEL_CARD.md"
    monkeypatch.setattr(
        classifier, "bundled_models", lambda: [{**row, "benchmark": {}, "speed": {}}]
    )
    code, out, _ = run(["models"], capsys)
    assert code == 0 and "[w] [red]x[/red] (default)" in out
    assert "model card: /models/[w]/MODEL_CARD.md" in out


# -- issue 19: a full disk is one line, and leaves nothing half-written ------------------------


def disk_full_on(monkeypatch, name: str) -> None:
    """The disk fills up when a file called ``name`` is flushed (every write goes through
    ``_util.atomic_write``, which fsyncs before it renames): ENOSPC, as a nearly full disk
    reports it when the last blocks are allocated."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f"{name}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize(
    ("command", "full_at"),
    [
        ("train", "weights.safetensors"),
        ("train", "model.json"),
        ("evaluate --out", "metrics.json"),
        ("evaluate --out", "confusion_matrix.png"),
        ("evaluate --record-as", "model.json"),
        ("calibrate", "model.json"),
        ("audit --out", "audit.html"),
        ("audit --out", "label_issues.csv"),
        ("report", "index.html"),
        ("report", "genre_distribution.png"),
    ],
)
def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(
    command,
    full_at,
    tiny_model_dir,
    tiny_imdb_train,
    tiny_imdb_solution,
    tmp_path,
    monkeypatch,
    capsys,
):
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    before = (model / "model.json").read_bytes()
    out = tmp_path / "out"
    argv = {
        "train": ["train", "--data", str(tiny_imdb_train), "--param", "C=0.5", "--out", str(out)],
        "evaluate --out": ["evaluate", "-m", str(model), "--data", str(tiny_imdb_solution)]
        + ["--out", str(out)],
        "evaluate --record-as": ["evaluate", "-m", str(model), "--data", str(tiny_imdb_solution)]
        + ["--record-as", "test"],
        "calibrate": ["calibrate", "-m", str(model), "--data", str(tiny_imdb_solution)],
        "audit --out": ["audit", "--data", str(tiny_imdb_train), "--folds", "2", "--out", str(out)],
        "report": ["report", "--data", str(tiny_imdb_train), "--out", str(out)],
    }[command]
    disk_full_on(monkeypatch, full_at)
    code, _, err = run(argv, capsys)
    assert code == 2 and "Traceback" not in err and err.count("error:") == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and "(No space left on device)" in last
    assert "free space or choose a writable --" in last
    assert [p.name for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".partial"))] == []
    assert not out.exists() or not list(out.rglob(full_at))
    assert (model / "model.json").read_bytes() == before
    if command == "train":
        assert not out.exists()


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 32 KiB tmpfs (a really full disk), where this process may mount one (root on
    Linux); skipped elsewhere: the test above simulates ENOSPC everywhere."""
    import subprocess

    where = tmp_path / "small"
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(where)]
    try:
        mounted = subprocess.run(mount, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True, timeout=30)


def test_train_and_evaluate_on_a_really_full_disk(
    small_tmpfs, tiny_model_dir, tiny_imdb_train, tiny_imdb_solution, capsys
):
    """The tiny model's weights (~42 KB) and confusion matrix (~37 KB) do not fit in 32 KiB:
    safetensors' own writer raised a SafetensorError traceback here, and PIL an OSError one;
    now one line each, and no partial file is left on the disk."""
    argv = ["train", "--data", str(tiny_imdb_train), "--param", "C=0.5"]
    code, _, err = run([*argv, "--out", str(small_tmpfs / "model")], capsys)
    assert code == 2 and "Traceback" not in err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("(No space left on device); free space or choose a writable --out")
    )
    assert list(small_tmpfs.iterdir()) == []
    argv = ["evaluate", "-m", str(tiny_model_dir), "--data", str(tiny_imdb_solution)]
    code, _, err = run([*argv, "--out", str(small_tmpfs / "eval")], capsys)
    assert code == 2 and "(No space left on device)" in err and "Traceback" not in err
    assert not list((small_tmpfs / "eval").glob("*.png")) and not list(small_tmpfs.rglob("*.tmp"))


# -- issue 22: data options (--label-sep, --strict), rows skipped, genre sets refused --------


def _holey_csv(tmp_path: Path) -> Path:
    """The tiny CSV plus a row without a description and one without a genre (lines 22, 23)."""
    path = tmp_path / "holes.csv"
    rows = [("name", "genre", "text")] + [
        (t, g, d) for _, t, g, d in tiny_rows(20, seed=2)
    ] + [("Blank", "drama", "  "), ("No genre", "", tiny_rows(1, seed=5)[0][3])]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_train_skips_rows_without_text_or_genre_and_records_them(tmp_path, capsys):
    data, model = _holey_csv(tmp_path), tmp_path / "model"
    code, out, err = run(["train", "--data", str(data), "--out", str(model)], capsys)
    assert code == 0, err
    assert "skipped 1 row(s) without a description (first: " in err and "line 22" in err
    assert "1 row(s) without a genre" in err and "pass --strict to stop" in err
    training = json.loads((model / "model.json").read_text())["training"]
    assert training["rows"] == 20
    assert training["skipped_rows"] == {"no_description": 1, "no_genres": 1}
    card = (model / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert (
        "| rows left out (lacking a description or a genre) | 1 no description, 1 no genres |"
        in card
    )


def test_strict_stops_at_the_first_row_without_text(tmp_path, capsys):
    data = _holey_csv(tmp_path)
    for argv in (
        ["train", "--data", str(data), "--out", str(tmp_path / "m"), "--strict"],
        ["report", "--data", str(data), "--out", str(tmp_path / "r"), "--strict"],
    ):
        code, _, err = run(argv, capsys)
        assert code == 2 and "holes.csv, line 22: empty description (column 'text')" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_strict_and_label_sep_are_recorded_in_the_training_command(tiny_csv, tmp_path, capsys):
    model = tmp_path / "model"
    code, _, _ = run(["train", "--data", str(tiny_csv), "--out", str(model), "--strict"], capsys)
    command = json.loads((model / "model.json").read_text())["training"]["command"]
    assert code == 0 and command.endswith("--strict")


@pytest.mark.parametrize("value", ["a", " ", "-"])
def test_a_bad_label_sep_is_one_line(value, tiny_csv, tmp_path, capsys):
    argv = ["train", "--data", str(tiny_csv), "--out", str(tmp_path / "m"), "--label-sep", value]
    code, _, err = run(argv, capsys)
    assert code == 2 and "--label-sep must be a separator such as ',' or '|'" in err


def test_a_kind_of_one_genre_per_row_refuses_genre_sets(
    tiny_multilabel_csv, tmp_path, monkeypatch, capsys
):
    """Every kind learns genre sets (issue 22): one is made not to, as in test_training."""
    from moviegenre.models import model_class

    monkeypatch.setattr(model_class("static"), "supports_multi_label", False)
    argv = ["train", "--data", str(tiny_multilabel_csv), "--out", str(tmp_path / "m")]
    code, _, err = run([*argv, "--kind", "static"], capsys)
    assert code == 2 and "Traceback" not in err and not (tmp_path / "m").exists()
    assert "has several genres per row, which kind 'static' cannot learn" in err
    assert "note: " in err and "genres separated by ','" in err  # how the file was read


def test_evaluate_points_at_a_wrong_label_sep(tiny_multi_model_dir, tmp_path, capsys):
    path = tmp_path / "pipes.csv"
    rows = [("text", "genre")] + [(d, "Comedy|Horror") for _, _, _, d in tiny_rows(4, seed=6)]
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    argv = ["evaluate", "--model", str(tiny_multi_model_dir), "--data", str(path)]
    code, out, err = run([*argv, "--label-sep", ";"], capsys)
    assert code == 2 and "pipes.csv has genres the model does not know: comedy|horror;" in err
    assert "split on another one (pass --label-sep to choose it)" in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].endswith("(pass --label-sep to choose it)")
    code, out, _ = run(argv, capsys)  # '|' detected: the genres the model knows
    assert code == 0 and "micro-F1" in out


@pytest.mark.parametrize("command", ["audit", "baselines"])
def test_single_label_commands_refuse_genre_sets(command, tiny_multilabel_csv, capsys):
    code, _, err = run([command, "--data", str(tiny_multilabel_csv)], capsys)
    assert code == 2 and "several genres per row (multi-label)" in err
    assert "needs one genre per row" in err and "Traceback" not in err


def test_label_sep_forces_a_separator_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "semi.csv"
    rows = [("text", "genre")] + [(d, g) for _, _, g, d in tiny_rows(10, seed=4)]
    rows[1] = (rows[1][0], "Comedy;Horror")
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    code, _, err = run(["report", "--data", str(path), "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "note:" not in err  # ';' is not detected: one genre "comedy;horror"
    argv = ["report", "--data", str(path), "--out", str(tmp_path / "r2"), "--label-sep", ";"]
    code, _, err = run(argv, capsys)
    assert code == 0 and "genres separated by ';' (given by --label-sep)" in err
    assert "genre_cooccurrence.png" in {p.name for p in (tmp_path / "r2").iterdir()}


# -- several genres per film (issue 22) ------------------------------------------------------

BOTH = " ".join(TINY_GENRE_WORDS["horror"][:9] + TINY_GENRE_WORDS["western"][:9]) + " at night"


def test_predict_shows_the_assigned_genres_and_a_recall_set(tiny_multi_model_dir: Path, capsys):
    argv = ["predict", BOTH, "--model", str(tiny_multi_model_dir), "--recall", "0.9"]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "genres: " in out and "set at 90% recall" in out
    code, out, _ = run([*argv, "--json"], capsys)
    result = json.loads(out)["results"][0]
    assert code == 0 and {g["genre"] for g in result["labels"]} == {"horror", "western"}
    assert result["set"] and result["set"][0]["genre"] == "horror"


@pytest.mark.parametrize(
    ("model", "option", "message"),
    [
        ("multi", ["--coverage", "0.9"], "this model is multi-label: ask for recall sets"),
        ("single", ["--recall", "0.9"], "this model is single-label: ask for coverage sets"),
        ("multi", ["--recall", "2"], "recall must be a number between 0 and 1"),
    ],
)
def test_sets_of_the_wrong_kind_exit_2_in_one_line(
    tiny_multi_model_dir, tiny_model_dir, model, option, message, capsys
):
    folder = tiny_multi_model_dir if model == "multi" else tiny_model_dir
    code, out, err = run(["predict", SCARY, "--model", str(folder), *option], capsys)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_evaluate_prints_the_multi_label_scores(
    tiny_multi_model_dir, tmp_path, monkeypatch, capsys
):
    """The data layer reads genre-set files (ml-data); here a file is stood in for by a
    Dataset of genre sets, so the command's multi-label path is what is tested."""
    import moviegenre.data
    from tests.conftest import tiny_multi_dataset

    monkeypatch.setattr(moviegenre.data, "load_dataset", lambda *a, **k: tiny_multi_dataset(30, 4))
    argv = ["evaluate", "--model", str(tiny_multi_model_dir), "--data", str(tmp_path / "sets.csv")]
    code, out, _ = run([*argv, "--out", str(tmp_path / "report")], capsys)
    assert code == 0 and "micro-F1" in out and "Jaccard" in out and "accuracy" not in out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["multi_label"] and {"samples_f1", "hamming_loss", "hit_at_3"} <= set(metrics)


def test_mixing_single_and_multi_label_files_is_stated_and_recorded(
    tiny_csv, tiny_multilabel_csv, tmp_path, capsys
):
    model = tmp_path / "model"
    argv = ["train", "--data", str(tiny_csv), "--data", str(tiny_multilabel_csv)]
    code, _, err = run([*argv, "--out", str(model), "--param", "C=0.5"], capsys)
    mixing = "mixing one genre per row (train.csv) with genre lists: a single genre counts as a "
    assert code == 0 and f"note: {mixing}" in " ".join(err.split())
    training = json.loads((model / "model.json").read_text())["training"]
    assert training["rows"] == 50 and training["data_notes"][-1].startswith(mixing)
    assert training["genre_counts"]["comedy"] == 4 + 12  # 4 rows of train.csv, 12 of multi.csv


@pytest.mark.parametrize(
    ("argv", "built", "shown"),
    [
        (["predict", "--help"], ["predict"], "Classify descriptions given here"),
        (["score", "--help"], ["score"], "Usage:"),
        (["--help"], "all", "predict"),
        (["predikt", "x"], "all", "Did you mean 'predict'?"),
    ],
)
def test_a_command_builds_only_its_own_parameters(argv, built, shown, monkeypatch, capsys):
    """typer builds the parameters of the command named (a cold-start cost per command);
    the whole app for help, root options and unknown names; the app itself keeps them all."""
    import typer.main

    from moviegenre.cli import app

    every = len(app.registered_commands)
    names: list[str] = []
    original = typer.main.get_command_from_info

    def recording(**kwargs):
        command = original(**kwargs)
        names.append(command.name)
        return command

    monkeypatch.setattr(typer.main, "get_command_from_info", recording)
    _, out, err = run(argv, capsys)
    assert shown in out + err
    assert names == built if built != "all" else len(names) == every > 10
    assert len(app.registered_commands) == every
