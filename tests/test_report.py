"""Tests for moviegenre.report and moviegenre.figures: summary numbers, edge datasets, errors."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest
from conftest import _FILLER, TINY_GENRE_WORDS, _write_imdb, tiny_rows

from moviegenre.classifier import GenreClassifier
from moviegenre.cli import main
from moviegenre.data import from_records, load_dataset
from moviegenre.errors import ConfigError, DataError
from moviegenre.report import (
    ALL_ROWS,
    ReportSettings,
    build_report,
    cooccurring_pairs,
    genre_counts,
    genre_terms,
    read_history,
    summarize,
)
from moviegenre.training import train

ENGLISH = (
    "A retired detective returns to the small coastal town where he grew up, to find the "
    "truth about a fire that killed his brother thirty years ago, and the secrets it buried."
)
GERMAN = (
    "Ein junger Mann kehrt nach vielen Jahren in sein Heimatdorf zurück und muss sich den "
    "Geheimnissen seiner Familie stellen, die er immer verdrängt hat, bevor es zu spät ist."
)
DATA_FIGURES = {"genre_distribution.png", "release_years.png", "description_lengths.png"}
DATA_FIGURES |= {"wordclouds.png"}  # tests that expect every figure need the [report] extra
MODEL_FIGURES = {"f1_per_genre.png", "confusion_matrix.png"}


def needs_wordcloud() -> None:
    """Skip a test that expects the word-cloud figure when the optional package is absent."""
    pytest.importorskip("wordcloud", reason="the word-cloud figure needs the [report] extra")


def pngs(out: Path) -> set[str]:
    return {p.name for p in out.glob("*.png")}


def assert_self_contained(index: Path) -> str:
    page = index.read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "<script" not in page
    return page


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(training file, model directory with a history.json) of a tiny linear model."""
    folder = tmp_path_factory.mktemp("report-model")
    data = _write_imdb(folder / "train_data.txt", tiny_rows(60, seed=0), labelled=True)
    model_dir = train(load_dataset(data)).classifier.save(folder / "model")
    epochs = [{"epoch": i, "train_loss": 1 / i, "val_loss": 1.2 / i} for i in (1, 2, 3)]
    history = {"best_epoch": 2, "epochs": epochs}
    (model_dir / "history.json").write_text(json.dumps(history), encoding="utf-8")
    # a person's card in place of the generated one (as the bundled models share theirs)
    (model_dir / "MODEL_CARD.md").unlink()
    (folder / "MODEL_CARD.md").write_text("# Tiny card\n\n<b>raw html</b> kept as text\n")
    return data, model_dir


# -- summary numbers -------------------------------------------------------------------------


def test_summary_numbers_come_from_quality_and_checks() -> None:
    texts = [ENGLISH, ENGLISH.upper() + "  ", "", "Too short to judge.", GERMAN, f"Also {ENGLISH}"]
    labels = ["drama", "crime", "drama", "comedy", "drama", "crime"]
    titles = ["One (1999)", "Two (2004)", "Three", None, "Four (????)", "Five (1950/II)"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = from_records(texts, labels, titles=titles)
    s = summarize(ds)
    assert s["rows"] == 6 and s["genres"] == 3 and s["labelled"]
    assert s["duplicate_texts"] == 1 and s["conflicting_labels"] == 1
    assert s["empty_texts"] == 1 and s["short_texts"] == 1
    assert s["language_checked"] == 4 and s["non_english"] == 1
    assert s["non_english_share"] == pytest.approx(0.25)
    assert (s["years_parsed"], s["year_min"], s["year_max"]) == (3, 1950, 2004)
    assert s["words_max"] == len(f"Also {ENGLISH}".split())
    assert genre_counts(ds) == {"drama": 3, "crime": 2, "comedy": 1}


def test_language_check_is_sampled_on_large_files() -> None:
    ds = from_records([ENGLISH] * 4 + [GERMAN] * 4, ["drama"] * 8)
    s = summarize(ds, ReportSettings(language_sample=3))
    assert s["language_checked"] == 3 and s["language_sampled"]


def test_summary_of_the_real_training_file(shared_data_dir: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(shared_data_dir / "train_data.txt")
    s = summarize(ds)
    assert (s["rows"], s["genres"], s["empty_texts"]) == (2110, 27, 0)
    assert s["non_english_share"] < 0.05
    counts = genre_counts(ds)
    assert list(counts)[:3] == ["drama", "documentary", "comedy"]
    assert (counts["drama"], counts["war"]) == (522, 4)


def test_genre_terms_favour_each_genres_own_words(tiny_imdb_train: Path) -> None:
    terms = genre_terms(load_dataset(tiny_imdb_train), n_terms=5)
    assert set(terms) == {"comedy", "horror", "documentary", "western", "sci-fi"}
    assert set(terms["western"]) <= set(TINY_GENRE_WORDS["western"])


def test_a_word_frequent_in_every_genre_tops_none() -> None:
    """Mean TF-IDF put "life" first in all five genres here; log-odds puts it in none."""
    import random

    rng = random.Random(1)
    texts, labels = [], []
    for genre, words in TINY_GENRE_WORDS.items():
        for i in range(8):
            body = rng.choices(words, k=3) + rng.choices(_FILLER, k=15)
            body += ["life"] * (3 if i % 4 else 0)
            rng.shuffle(body)
            texts.append(" ".join(body))
            labels.append(genre)
    terms = genre_terms(from_records(texts, labels), n_terms=3)
    assert len(terms) == 5 and all(len(t) == 3 for t in terms.values())
    assert not any("life" in t for t in terms.values())
    for genre, top in terms.items():
        assert set(top) <= set(TINY_GENRE_WORDS[genre])


def test_genre_terms_of_an_unlabelled_file_are_its_most_frequent_words() -> None:
    ds = from_records(["ghost ghost ship", "ghost town", "ship wreck"])
    assert genre_terms(ds) == {ALL_ROWS: {"ghost": 2.0, "ship": 2.0}}  # words of 2+ rows


def test_genre_terms_survive_stop_word_only_texts() -> None:
    ds = from_records(["the and of", "a an the"], ["drama", "comedy"])
    assert genre_terms(ds) == {"comedy": {}, "drama": {}}


# -- building the report ---------------------------------------------------------------------


def test_report_with_model_has_every_section(tmp_path: Path, tiny_model) -> None:
    needs_wordcloud()
    data, model_dir = tiny_model
    ds = load_dataset(data)
    index = build_report(ds, tmp_path / "out", GenreClassifier.load(model_dir))
    out = index.parent
    assert pngs(out) == DATA_FIGURES | MODEL_FIGURES | {"training_curves.png"}
    page = assert_self_contained(index)
    assert "Tiny card" in page and "&lt;b&gt;raw html&lt;/b&gt;" in page
    assert "graded with the out-of-fold predictions it made of them during training" in page
    assert "recorded in model.json: validation" in page
    assert json.loads((out / "summary.json").read_text()) == summarize(ds)


def test_single_genre_dataset(tmp_path: Path, tiny_model) -> None:
    ds = from_records([f"{ENGLISH} {i}" for i in range(5)], ["drama"] * 5)
    index = build_report(ds, tmp_path, GenreClassifier.load(tiny_model[1]))
    assert {"genre_distribution.png", "f1_per_genre.png", "confusion_matrix.png"} <= pngs(tmp_path)
    assert "5 rows the model never trained on" in assert_self_contained(index)


def test_dataset_without_parsable_years(tmp_path: Path) -> None:
    ds = from_records([ENGLISH, GERMAN], ["drama", "crime"], titles=["No year", None])
    page = build_report(ds, tmp_path).read_text()
    assert "release_years.png" not in pngs(tmp_path)
    assert "No release year could be parsed" in page


def test_genre_with_a_single_row(tmp_path: Path, tiny_imdb_train: Path) -> None:
    needs_wordcloud()
    ds = load_dataset(tiny_imdb_train)
    lone = "A lone musical about singing sailors and a dancing whale."
    one = from_records([*ds.texts, lone], [*ds.labels, "musical"])
    assert genre_counts(one)["musical"] == 1
    assert genre_terms(one)["musical"]
    build_report(one, tmp_path)
    assert pngs(tmp_path) == DATA_FIGURES - {"release_years.png"}


def test_unlabelled_data_with_model(tmp_path: Path, tiny_imdb_test: Path, tiny_model) -> None:
    ds = load_dataset(tiny_imdb_test)
    page = build_report(ds, tmp_path, GenreClassifier.load(tiny_model[1])).read_text()
    assert "The file has no genre labels" in page and "not scored on it" in page
    assert ALL_ROWS in page and "genre_distribution.png" not in pngs(tmp_path)
    assert not MODEL_FIGURES & pngs(tmp_path)
    assert summarize(ds)["genres"] == 0


def test_empty_texts_are_left_out_of_scoring(tmp_path: Path, tiny_model) -> None:
    data, model_dir = tiny_model
    ds = load_dataset(data)
    ds = from_records([*ds.texts, "   "], [*ds.labels, "comedy"])
    page = build_report(ds, tmp_path, GenreClassifier.load(model_dir)).read_text()
    assert "1 empty description(s) were left out" in page


def test_report_without_wordcloud_package(tmp_path: Path, monkeypatch, tiny_imdb_train) -> None:
    monkeypatch.setitem(sys.modules, "wordcloud", None)
    page = build_report(load_dataset(tiny_imdb_train), tmp_path).read_text()
    assert "pip install" in page and "wordclouds.png" not in pngs(tmp_path)
    assert "Top 10 terms" in page


# -- history.json ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected_rows", "best", "problem"),
    [
        ('[{"epoch": 1, "val_loss": 1.0, "best_epoch": 1}]', 1, 1, False),
        ('{"best_epoch": 2, "history": [{"epoch": 1}, {"epoch": 2}]}', 2, 2, False),
        ('{"best_epoch": true, "epochs": [{"epoch": 1}]}', 1, None, False),
        ("[]", 0, None, True),
        ('"just a string"', 0, None, True),
        ("{not json", 0, None, True),
    ],
)
def test_read_history_is_defensive(tmp_path, content, expected_rows, best, problem) -> None:
    (tmp_path / "history.json").write_text(content)
    rows, best_epoch, message = read_history(tmp_path)
    assert (len(rows), best_epoch, message is not None) == (expected_rows, best, problem)


def test_bad_history_is_noted_not_fatal(tmp_path: Path, tiny_model) -> None:
    clf = GenreClassifier.load(tiny_model[1])
    ds = from_records([ENGLISH], ["drama"])
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "history.json").write_text("{broken")
    clf.path = tmp_path / "model"
    page = build_report(ds, tmp_path / "out", clf).read_text()
    assert "could not be read" in page and "No MODEL_CARD.md" in page
    assert read_history(None) == ([], None, None)


# -- errors ----------------------------------------------------------------------------------


def test_errors_of_the_library(tmp_path: Path) -> None:
    ds = from_records([ENGLISH], ["drama"])
    file = tmp_path / "taken"
    file.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        build_report(ds, file)
    with pytest.raises(ConfigError, match="cannot write the report"):
        build_report(ds, file / "below")
    with pytest.raises(DataError, match="no rows"):
        build_report(from_records([], []), tmp_path / "empty")
    with pytest.raises(ConfigError, match="top_terms"):
        ReportSettings(top_terms=0)
    with pytest.raises(ConfigError, match="language_sample"):
        ReportSettings(language_sample=0)


def run_cli(*args: str) -> int:
    try:
        main(["report", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_report(tmp_path: Path, tiny_imdb_train: Path, tiny_model, capsys) -> None:
    assert run_cli("--data", str(tiny_imdb_train), "--out", str(tmp_path / "r")) == 0
    assert (tmp_path / "r" / "index.html").is_file()
    model = str(tiny_model[1])
    assert run_cli("--data", str(tiny_imdb_train), "-m", model, "--out", str(tmp_path)) == 0
    assert pngs(tmp_path) >= MODEL_FIGURES
    assert "report written to" in capsys.readouterr().out
    # the README's `report --data train_data.txt --model models/mine`: the model's training file
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "train_data.txt (60 rows graded by held-out predictions)" in page
    assert "60 rows it trained on, graded with the out-of-fold predictions" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.txt"], "file not found"),
        (["--data", "{train}", "--model", "no-such-model"], "does not exist"),
        (["--data", "{train}", "--out", "{file}"], "is a file"),
    ],
)
def test_cli_errors_exit_2(tmp_path, tiny_imdb_train, capsys, args, message) -> None:
    (tmp_path / "file").write_text("x")
    args = [a.format(train=tiny_imdb_train, file=tmp_path / "file") for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    assert run_cli(*args) == 2
    assert message in capsys.readouterr().err


def test_evaluate_confusion_png_uses_the_report_figure(tmp_path: Path, tiny_model) -> None:
    from moviegenre.evaluate import evaluate, write_report

    data, model_dir = tiny_model
    metrics = evaluate(GenreClassifier.load(model_dir), load_dataset(data))
    paths = write_report(metrics, tmp_path)
    assert [p.name for p in paths] == ["metrics.json", "confusion_matrix.png"]
    assert paths[1].stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.realdata
def test_full_report_on_the_shared_file(tmp_path: Path, shared_data_dir: Path) -> None:
    needs_wordcloud()
    from moviegenre.classifier import BUNDLED_MODEL_DIR

    if not (BUNDLED_MODEL_DIR / "model.json").is_file():
        pytest.skip("the bundled model is not there yet")
    # Its speed is a benchmark's business (no wall-clock assertions in tests: CI is busy).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(shared_data_dir / "train_data.txt")
    page = build_report(ds, tmp_path, GenreClassifier.load(BUNDLED_MODEL_DIR)).read_text()
    # the bundled models were trained on this file (model.json names it) and keep no held-out
    # predictions of its rows: the report says it cannot grade them here, and draws no grade
    assert pngs(tmp_path) >= DATA_FIGURES and not MODEL_FIGURES & pngs(tmp_path)
    assert "this report cannot grade it on this file" in page


def test_a_model_card_never_makes_the_browser_fetch_anything() -> None:
    """Issue 19: a card beside a crafted model is untrusted text; images become links."""
    from moviegenre.report.html import markdown

    card = "# Card\n\n![w](http://127.0.0.1:9/card.png) <img src=http://127.0.0.1:9/i.png>\n"
    html = markdown(card + "\n[x](javascript:alert(1))\n")
    assert "<img" not in html and 'href="http://127.0.0.1:9/card.png"' in html
    assert "&lt;img" in html and 'href="javascript' not in html


# -- several genres per row ------------------------------------------------------------------


def _csv_genre_sets(path: Path) -> list[list[str]]:
    """The genre sets of a CSV's genre column, counted here with the csv module alone."""
    import csv

    with path.open(encoding="utf-8") as fh:
        return [[g.strip().lower() for g in row["genre"].split(",")] for row in csv.DictReader(fh)]


def test_multi_label_summary_matches_an_independent_count(tiny_multilabel_csv: Path) -> None:
    sets = _csv_genre_sets(tiny_multilabel_csv)
    s = summarize(load_dataset(tiny_multilabel_csv))
    assert s["multi_label"] and s["rows"] == len(sets)
    assert s["genres_per_row_mean"] == pytest.approx(sum(map(len, sets)) / len(sets))
    assert s["multi_genre_rows"] == sum(len(g) > 1 for g in sets)
    assert s["genres"] == len({g for genres in sets for g in genres})


def test_cooccurring_pairs_match_an_independent_count(tiny_multilabel_csv: Path) -> None:
    from collections import Counter
    from itertools import combinations

    sets = _csv_genre_sets(tiny_multilabel_csv)
    expected = Counter(frozenset(p) for genres in sets for p in combinations(genres, 2))
    pairs = cooccurring_pairs(load_dataset(tiny_multilabel_csv), top=100)
    assert {frozenset((a, b)): n for a, b, n in pairs} == dict(expected)
    assert [n for _, _, n in pairs] == sorted((n for _, _, n in pairs), reverse=True)
    assert cooccurring_pairs(from_records([ENGLISH, GERMAN], ["drama", "crime"])) == []


def test_multi_label_report_has_the_several_genres_section(
    tmp_path: Path, tiny_multilabel_csv: Path, tiny_model
) -> None:
    ds = load_dataset(tiny_multilabel_csv)
    index = build_report(ds, tmp_path, GenreClassifier.load(tiny_model[1]))
    page = assert_self_contained(index)
    assert "Several genres per row" in page and "2.00 genres per row on average" in page
    assert "genre_cooccurrence.png" in pngs(tmp_path)
    a, b, n = cooccurring_pairs(ds)[0]
    assert f"<tr><td>{a}</td><td>{b}</td><td class=n>{n}</td>" in page
    assert "<tr><td class=n>3</td><td class=n>10</td><td class=n>33.3%</td></tr>" in page
    # the model is not graded on genre sets here (evaluate does); no single-label figures
    assert "does not score the model on it" in page and not MODEL_FIGURES & pngs(tmp_path)
    assert "a row counts for each of its genres" not in page  # that is in the figure


def test_single_label_report_has_no_several_genres_section(tmp_path: Path) -> None:
    page = build_report(from_records([ENGLISH, GERMAN], ["drama", "crime"]), tmp_path).read_text()
    assert "Several genres per row" not in page and "genre_cooccurrence.png" not in pngs(tmp_path)


def test_rows_left_out_while_loading_are_in_the_summary(tmp_path: Path) -> None:
    source = tmp_path / "holes.csv"
    source.write_text(f'text,genre\n"{ENGLISH}",Drama|Crime\n,Drama\n"{GERMAN}",\n', "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_dataset(source)
    s = summarize(ds)
    assert (s["skipped_no_description"], s["skipped_no_genres"], s["rows"]) == (1, 1, 1)
    page = build_report(ds, tmp_path / "out").read_text()
    assert "<td>rows left out while loading (no description)</td><td class=n>1</td>" in page
    assert "<td>rows left out while loading (no genre)</td><td class=n>1</td>" in page


def test_genre_terms_of_multi_label_rows_count_each_genre(tiny_multilabel_csv: Path) -> None:
    terms = genre_terms(load_dataset(tiny_multilabel_csv))
    assert set(terms) == set(TINY_GENRE_WORDS)
    for genre, words in terms.items():
        assert set(list(words)[:3]) <= set(TINY_GENRE_WORDS[genre])


def test_cli_report_on_a_multi_label_file(tmp_path, tiny_multilabel_csv, capsys) -> None:
    assert run_cli("--data", str(tiny_multilabel_csv), "--out", str(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "genres separated by ','" in captured.err and "pass --label-sep" in captured.err
    assert "genres separated" not in captured.out
    assert "genre_cooccurrence.png" in pngs(tmp_path)
    assert run_cli("--data", str(tiny_multilabel_csv), "--out", str(tmp_path), "--audit") == 2
    assert "needs one genre per row" in capsys.readouterr().err
