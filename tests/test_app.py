"""The web page: Streamlit's AppTest drives the real script; helpers are tested directly."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from conftest import hostile_genres, hostile_name, tiny_multi_rows, tiny_rows
from streamlit.testing.v1 import AppTest

from moviegenre import GenreClassifier
from moviegenre.examples import EXAMPLES
from moviegenre.explain import Explanation, WordWeight
from moviegenre.serve import app as page

FRENCH = (
    "Un homme rentre chez lui après la guerre et découvre que sa famille a disparu sans laisser "
    "de trace dans la petite ville où il est né et a grandi depuis son enfance"
)


@pytest.fixture
def at(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(tiny_model_dir))
    test = AppTest.from_file(page.__file__, default_timeout=60)
    return test.run()


@pytest.fixture(scope="module")
def classifier(tiny_model_dir: Path) -> GenreClassifier:
    return GenreClassifier.load(tiny_model_dir)


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def predict(at: AppTest, text: str) -> AppTest:
    at.text_area(key="description").input(text)
    return at.button(key="predict").click().run()


def test_page_starts_empty_with_model_panel(at: AppTest) -> None:
    assert not at.exception
    assert at.text_area(key="description").value in ("", None)
    assert "Most likely genre" not in markdown(at)
    assert "kind: linear" in [t.value for t in at.text]
    assert not at.warning


def test_prediction_is_shown_with_highlighted_words(at: AppTest) -> None:
    _, _, genre, text = tiny_rows(1, seed=9)[0]
    predict(at, text)
    assert not at.exception
    shown = markdown(at)
    assert f"Most likely genre: **{page.plain(genre)}**" in shown
    assert "<mark" in shown
    assert any("Strongest clues (weights)" in c.value for c in at.caption)


def test_clear_empties_the_box_and_the_result(at: AppTest) -> None:
    predict(at, tiny_rows(1, seed=9)[0][3])
    at.button(key="clear").click().run()
    assert at.text_area(key="description").value == ""
    assert "Most likely genre" not in markdown(at)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Type or paste a movie description first"),
        ("A ghost haunts a house.", "Please write at least 20 words: this description has 5"),
        (FRENCH, "does not look like English (it reads like French)"),
    ],
)
def test_validation_messages(at: AppTest, text: str, message: str) -> None:
    predict(at, text)
    assert [w.value for w in at.warning] and message in at.warning[0].value
    assert "Most likely genre" not in markdown(at)


def test_a_warning_goes_away_after_a_good_prediction(at: AppTest) -> None:
    predict(at, "too short")
    predict(at, tiny_rows(1, seed=9)[0][3])
    assert not at.warning


def test_example_button_fills_the_box_and_predicts(at: AppTest) -> None:
    at.button(key="example_0").click().run()
    assert at.text_area(key="description").value == next(iter(EXAMPLES.values()))
    assert "Most likely genre" in markdown(at)


def test_missing_model_is_a_friendly_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(tmp_path / "nowhere"))
    at = AppTest.from_file(page.__file__, default_timeout=60).run()
    assert at.error and "could not be loaded" in at.error[0].value
    assert any("does not exist" in t.value for t in at.text)
    assert not at.exception


# -- helpers -----------------------------------------------------------------------------------


def test_check_message_fallback_for_other_problems(classifier: GenreClassifier) -> None:
    assert "cannot be classified" in page.check_message(classifier, None)  # type: ignore[arg-type]
    assert page.check_message(classifier, tiny_rows(1, seed=9)[0][3]) is None


def test_highlight_escapes_html_and_marks_both_signs() -> None:
    text = "<b>ghost</b> and sunny fields"
    words = [
        WordWeight("ghost", 3, 8, 0.9),
        WordWeight("and", 13, 16, 0.01),
        WordWeight("sunny", 17, 22, -0.5),
    ]
    out = page.highlight_html(Explanation(text, [("horror", 0.9)], words))
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert out.count("<mark") == 2
    assert "rgba(34,139,34" in out and "rgba(200,40,40" in out
    assert "fields</div>" in out


def test_highlight_leaves_words_inside_their_noise_plain() -> None:
    text = "ghost and sunny fields"
    words = [
        WordWeight("ghost", 0, 5, 0.9, noise=0.2),
        WordWeight("and", 6, 9, 0.8, noise=1.0),  # large but inside its band: neutral
        WordWeight("sunny", 10, 15, -0.5, noise=0.6),
    ]
    out = page.highlight_html(Explanation(text, [("horror", 0.9)], words))
    assert out.count("<mark") == 1 and ">ghost</mark>" in out
    assert "rgba(200,40,40" not in out and 'title="+0.900 +/- 0.200"' in out


def test_highlight_without_weights_is_plain_text() -> None:
    out = page.highlight_html(Explanation("plain text", [("drama", 1.0)], []))
    assert "<mark" not in out and "plain text" in out


def test_chart_frame_and_metric_rows() -> None:
    frame = page.chart_frame([("drama", 0.6), ("comedy", 0.3)])
    assert list(frame["genre"]) == ["drama", "comedy"]
    metrics = {"test": {"accuracy": 0.61234, "macro_f1": 0.4, "rows": 10}, "note": "x"}
    table = page.metric_rows(metrics)
    assert list(table["metric"]) == ["accuracy", "macro-F1", "top-3 acc."]
    assert table["test"].tolist()[:2] == [0.612, 0.4] and pd.isna(table["test"].iloc[2])
    assert page.metric_rows({}).empty
    # a multi-label model's side panel shows its genre-set scores
    multi = {"validation": {"micro_f1": 0.5104, "macro_f1": 0.35, "hit_at_1": 0.6, "rows": 9}}
    table = page.metric_rows(multi, multi_label=True)
    assert list(table["metric"]) == ["micro-F1", "macro-F1", "samples-F1", "hit@1", "hit@3"]
    assert table["validation"].tolist()[:2] == [0.51, 0.35]
    single = page.metric_rows(multi)["validation"]  # the single-label keys: macro-F1 only
    assert single.iloc[1] == 0.35 and single.drop(index=1).isna().all()


def test_model_facts(classifier: GenreClassifier) -> None:
    facts = page.model_facts(classifier)
    assert facts["kind"] == "linear" and facts["genres"] == "5" and facts["version"]


def test_model_is_loaded_once_per_process(tiny_model_dir: Path) -> None:
    first = page.load_classifier(str(tiny_model_dir))
    assert page.load_classifier(str(tiny_model_dir)) is first


@pytest.mark.parametrize(
    ("command", "module", "extra"), [("app", "streamlit", "app"), ("serve", "fastapi", "serve")]
)
def test_missing_extra_is_one_line_with_the_fix(command, module, extra, monkeypatch, capsys):
    from moviegenre.cli import main

    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(SystemExit) as exited:
        main([command])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f'not installed; run: pip install "moviegenre[{extra}]"' in err


def test_model_errors_become_a_message(at: AppTest, monkeypatch) -> None:
    from moviegenre import ConfigError

    def refuse(self, text, top_k=3, **options):
        raise ConfigError("this model refuses")

    monkeypatch.setattr(GenreClassifier, "explain", refuse)
    predict(at, tiny_rows(1, seed=9)[0][3])
    assert not at.exception
    assert "could not classify this text: this model refuses" in at.warning[0].value


def test_genre_set_is_shown_at_the_chosen_coverage(at: AppTest) -> None:
    _, _, genre, text = tiny_rows(1, seed=9)[0]
    at.selectbox(key="coverage").select("95%")
    predict(at, text)
    assert not at.exception
    assert any(f"Genre set at 95% coverage (1 of 5 genres): {genre}" in i.value for i in at.info)
    at.selectbox(key="coverage").select("off")
    predict(at, text)
    assert not at.info


def test_set_text_says_why_a_sure_answer_gets_a_wide_set() -> None:
    default = GenreClassifier.load()
    text = (
        "A retired gunslinger rides into a dusty frontier town where a cattle baron has taken "
        "the water rights and the sheriff is in his pocket."
    )
    shown = page.set_text(default, text, 0.9)
    assert shown and "of 27 genres): western (99%)" in shown
    # the reason is model-derived text, escaped for Markdown like the genres
    assert page.plain(f"first genre was right for {default.set_basis(0.9).top1:.1%}") in shown


def test_set_text_is_none_when_off_or_without_scores(classifier: GenreClassifier) -> None:
    _, _, genre, text = tiny_rows(1, seed=9)[0]
    assert page.set_text(classifier, text, None) is None
    shown = page.set_text(classifier, text, 0.9)
    assert shown and shown.startswith(f"Genre set at 90% coverage (1 of 5 genres): {genre}")
    assert "first genre was right" not in shown  # nothing far below the top: nothing to explain
    bare = GenreClassifier(classifier.model, replace(classifier.info, conformal=None))
    assert page.set_text(bare, text, 0.9) is None


# -- strings from the model file are plain text --------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "![w](http://127.0.0.1:9/p.png)",
        '<img src="http://127.0.0.1:9/t.png">',
        ":red[west] **bold** $x^2$ `code` ~~s~~ _i_",
        "[link](javascript:alert(1)) <http://127.0.0.1:9/> \\ \\*",
        "# heading",
    ],
)
def test_plain_escapes_every_markdown_character(text: str) -> None:
    import re
    import string

    escaped = page.plain(text)
    assert re.sub(r"\\(.)", r"\1", escaped) == text  # CommonMark shows the text itself
    # every punctuation character is preceded by a backslash that is not itself escaped
    chars = iter(escaped)
    for c in chars:
        if c == "\\":
            assert next(chars) in string.punctuation
        else:
            assert c not in string.punctuation


def test_a_hostile_model_genre_and_name_are_shown_as_plain_text(
    hostile_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model whose genres are Markdown/HTML: the page escapes them in every Markdown element
    (the real browser checks what a visitor sees: tests/test_browser.py)."""
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(hostile_model_dir))
    at = AppTest.from_file(page.__file__, default_timeout=60).run()
    _, _, tiny_genre, text = tiny_rows(1, seed=9)[0]
    predict(at, text)
    assert not at.exception
    genre = hostile_genres("http://127.0.0.1:9")[tiny_genre]
    shown = markdown(at)
    assert f"Most likely genre: **{page.plain(genre)}**" in shown
    assert f"**Why {page.plain(genre)}?**" in shown
    assert genre not in shown  # never raw
    assert f"name: {hostile_name('http://127.0.0.1:9')}" in [t.value for t in at.text]
    at.selectbox(key="coverage").select("95%")
    predict(at, text)
    assert any(f"genres): {page.plain(genre)} (" in i.value for i in at.info)


# -- a multi-label model (issue 22) --------------------------------------------------------------


@pytest.fixture
def multi_at(tiny_multi_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MOVIEGENRE_MODEL", str(tiny_multi_model_dir))
    return AppTest.from_file(page.__file__, default_timeout=60).run()


def test_a_multi_label_model_shows_the_genres_it_assigns(multi_at: AppTest) -> None:
    texts, sets = tiny_multi_rows(1, seed=11)  # the first row has two genres
    assert len(sets[0]) == 2
    assert "genres per text: several (multi-label)" in [t.value for t in multi_at.text]
    assert not [s for s in multi_at.selectbox if s.key == "coverage"]
    scores = multi_at.dataframe[0].value  # the side panel's genre-set scores
    assert list(scores["metric"]) == list(page.MULTI_LABEL_SCORES.values())
    assert scores["validation"].notna().all()
    predict(multi_at, texts[0])
    assert not multi_at.exception
    shown = markdown(multi_at)
    assert "Most likely genre" not in shown
    headline = next(line for line in shown.splitlines() if line.startswith("### Genres: "))
    assert all(f"**{page.plain(g)}** (" in headline for g in sets[0])
    assert any("need not add up to 100%" in c.value for c in multi_at.caption)
    assert not multi_at.info  # no set asked for: recall is off by default


def test_a_multi_label_model_gives_recall_sets(
    multi_at: AppTest, tiny_multi_classifier: GenreClassifier
) -> None:
    texts, _ = tiny_multi_rows(1, seed=11)
    multi_at.selectbox(key="recall").select("90%")
    predict(multi_at, texts[0])
    want = tiny_multi_classifier.classify(texts, recall=0.9)[0].genre_set
    listed = ", ".join(f"{page.plain(g)} ({p:.0%})" for g, p in want)
    assert [i.value for i in multi_at.info] == [
        f"Genre set at 90% recall ({len(want)} of 5 genres): {listed}. Over descriptions like "
        "the training data, such sets hold 90% of a film's genres on average."
    ]


def test_multi_label_strings_are_plain_markdown() -> None:
    from moviegenre.results import Prediction

    genre = hostile_genres("http://127.0.0.1:9")["comedy"]
    assert page.labels_text([(genre, 0.9), ("drama", 0.6)]) == (
        f"### Genres: **{page.plain(genre)}** (90%), **drama** (60%)"
    )
    result = Prediction(genre_set=[(genre, 0.9)], recall=0.8)
    assert f"genres): {page.plain(genre)} (90%)." in page.recall_set_text(result, 5)
    assert page.recall_set_text(Prediction(genres=[(genre, 0.9)]), 5) is None
