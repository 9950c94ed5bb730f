"""MODEL_CARD.md beside model.json: its figures are model.json's, its strings plain text."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import tiny_rows

from moviegenre import __version__
from moviegenre.card import CARD_FILE, md, model_card
from moviegenre.classifier import GenreClassifier
from moviegenre.cli import main
from moviegenre.data import from_records
from moviegenre.serialization import record_metrics
from moviegenre.training import TrainSettings, train
from tests.test_cli import run


def table_rows(card: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first Markdown table after ``heading``: first cell -> other cells."""
    section = card.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(training file, model folder) of a model trained by the CLI."""
    import contextlib
    import io

    from conftest import _write_imdb

    folder = tmp_path_factory.mktemp("card")
    data = _write_imdb(folder / "train_data.txt", tiny_rows(60, seed=0), labelled=True)
    out = folder / "model"
    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with quiet[0], quiet[1], contextlib.suppress(SystemExit):
        main(["train", "--data", str(data), "--out", str(out), "--param", "C=0.5"])
    assert (out / "model.json").is_file()
    return data, out


def test_train_writes_a_card_whose_figures_are_model_json_s(trained) -> None:
    data, out = trained
    card = (out / CARD_FILE).read_text(encoding="utf-8")
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    validation = meta["metrics"]["validation"]
    figures = table_rows(card, "## Validation")
    assert figures["rows"][0] == str(validation["rows"]) == "60"
    labels = {"accuracy": "accuracy", "macro-F1": "macro_f1", "weighted-F1": "weighted_f1"}
    labels["top-3 accuracy"] = "top3_accuracy"
    for label, key in labels.items():
        assert float(figures[label][0]) == pytest.approx(validation[key], abs=5e-4)
    assert "Out-of-fold: each of the 60 training rows" in card and "5-fold" in card
    facts = table_rows(card, "## Training data")
    counted = Counter(line.split(" ::: ")[2].strip() for line in data.read_text().splitlines())
    per_genre = dict(part.rsplit(" ", 1) for part in facts["rows per genre"][0].split(", "))
    assert {g: int(n) for g, n in per_genre.items()} == {md(g): n for g, n in counted.items()}
    assert facts["rows"][0] == "60" and facts["files"][0] == md(str(data))
    model = table_rows(card, "## Model")
    assert model["kind"][0] == "linear" and model["settings (chosen or given)"][0] == "C = 0\\.5"
    assert model["moviegenre version"][0] == md(__version__)
    command = re.search(r"```text\n(.*)\n```", card)
    assert command and command.group(1).startswith(f"moviegenre train --data {data} --out {out}")
    assert "--param C=0.5" in command.group(1)


def test_recording_metrics_updates_the_card(trained, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(trained[1], tmp_path / "model"))
    record_metrics(copy, "test", {"data": "test_data.txt", "rows": 7, "accuracy": 0.4286})
    card = (copy / CARD_FILE).read_text(encoding="utf-8")
    recorded = table_rows(card, "### Recorded as test on test\\_data\\.txt")
    assert recorded["rows"][0] == "7" and recorded["accuracy"][0] == "0.429"
    assert recorded["macro-F1"][0] == "-"


def test_a_card_written_by_a_person_is_kept(trained, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(trained[1], tmp_path / "model"))
    (copy / CARD_FILE).write_text("# My own notes\n", encoding="utf-8")
    record_metrics(copy, "test", {"rows": 1, "accuracy": 1.0})
    assert (copy / CARD_FILE).read_text(encoding="utf-8") == "# My own notes\n"


def test_python_training_records_the_call_and_saving_writes_the_card(tmp_path: Path) -> None:
    rows = tiny_rows(40, seed=3)
    data = from_records([r[3] for r in rows], [r[2] for r in rows])
    clf = train(data, TrainSettings(search={"C": [0.5]})).classifier
    path = clf.save(tmp_path / "m")
    card = (path / CARD_FILE).read_text(encoding="utf-8")
    assert "train(from_records(texts, labels), TrainSettings(kind='linear'" in card
    assert "Held out: 20% of the training rows" in card and "before that refit" in card
    assert GenreClassifier.load(path).card_path == path / CARD_FILE


HOSTILE = "**bold** <script>alert(1)</script> [link](http://x) `code` # h | pipe\nsecond line"


def test_every_string_from_data_or_model_is_plain_text() -> None:
    from markdown_it import MarkdownIt

    meta = {
        "kind": "linear",
        "name": HOSTILE,
        "genres": ["drama", "comedy"],
        "created": "<img src=x onerror=alert(1)>",
        "training": {
            "data": HOSTILE,
            "rows": 2,
            "params": {HOSTILE: HOSTILE},
            "genre_counts": {HOSTILE: 1, "drama": 1},
            "validation": "out-of-fold",
            "folds": "<b>5</b>",
            "command": "moviegenre train --name '```\n# not a heading'",
        },
        "metrics": {"validation": {"rows": 2, "accuracy": 0.5}, HOSTILE: {"data": HOSTILE}},
        "files": {"weights.safetensors": {"sha256": "0" * 64, "bytes": 3}},
    }
    card = model_card(meta)
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(card)
    for tag in ("<script", "<img", "<a ", "<strong", "<b>", "<h1>not"):
        assert tag not in html
    assert "alert(1)" in html  # shown, as text
    assert "second line" in card.split("# Model card: ", 1)[1].splitlines()[0]
    fences = re.findall(r"^(`{3,})", card, flags=re.M)
    assert len(fences) == 2 and len(fences[0]) == 4  # longer than the run inside
    assert "# not a heading" in html and "<h1>not" not in html


def test_models_names_the_bundled_card(capsys) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0 and re.search(r"model card: .*pretrained.MODEL_CARD\.md", out)
    code, out, _ = run(["models", "--json"], capsys)
    rows = json.loads(out)
    assert all(Path(row["card"]).name == CARD_FILE and Path(row["card"]).is_file() for row in rows)
