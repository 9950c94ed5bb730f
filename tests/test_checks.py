"""Input checks: types, empty texts, word counts, language, truncation."""

from __future__ import annotations

import pytest

from moviegenre.checks import (
    CheckSettings,
    as_text_list,
    check_text,
    detect_language,
    raise_for_problems,
)
from moviegenre.errors import ConfigError, InvalidTextError

ENGLISH = (
    "A retired detective returns to the small coastal town where he grew up to investigate the "
    "disappearance of a fisherman, and finds that the whole village is hiding an old secret."
)
FRENCH = (
    "Un ancien policier revient dans la petite ville de son enfance pour enquêter sur la "
    "disparition d'un pêcheur, et découvre que tout le village cache un vieux secret de famille."
)


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        (42, "not_a_string", "expected a string, got int"),
        (None, "not_a_string", "got NoneType"),
        ("", "empty", "empty"),
        ("   \n\t ", "empty", "empty"),
        ("a haunted house story", "too_short", "4 words; at least 20"),
        (FRENCH, "not_english", "does not look like English"),
    ],
)
def test_refused_texts_name_the_problem(text, code, words):
    result = check_text(text)
    assert not result.ok
    assert result.code == code
    assert words in result.problem


def test_english_text_passes_and_is_stripped():
    result = check_text(f"  {ENGLISH}  ")
    assert result.ok and result.text == ENGLISH and result.language == "en"


def test_one_word_is_singular():
    assert "1 word;" in check_text("word").problem


def test_long_text_is_truncated_and_flagged():
    result = check_text(ENGLISH * 10, CheckSettings(max_chars=100, require_english=False))
    assert result.ok and result.truncated and len(result.text) == 100


@pytest.mark.parametrize(
    "settings", [CheckSettings(min_words=0, require_english=False), CheckSettings(min_words=3)]
)
def test_rules_can_be_relaxed(settings):
    assert check_text("a haunted house story" if settings.min_words else FRENCH, settings).ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_words": -1}, "min_words must be >= 0"),
        ({"max_chars": 0}, "max_chars must be >= 1"),
        ({"english_min_prob": 2}, "english_min_prob must be in [0, 1]"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CheckSettings(**kwargs)


def test_detect_language_gives_probabilities():
    lang, prob, english = detect_language(ENGLISH)
    assert lang == "en" and 0.5 < prob <= 1 and english == prob


@pytest.mark.parametrize(
    ("value", "expected"),
    [("one text", ["one text"]), (["a", "b"], ["a", "b"]), (("a",), ["a"]), (iter(["x"]), ["x"])],
)
def test_as_text_list_accepts_strings_and_sequences(value, expected):
    assert as_text_list(value) == expected


@pytest.mark.parametrize(
    ("value", "message"), [(b"bytes", "got bytes; decode"), (12, "got int"), ({"a": 1}, "got dict")]
)
def test_as_text_list_refuses_other_types(value, message):
    with pytest.raises(InvalidTextError, match=message):
        as_text_list(value)


def test_raise_for_problems_names_indices_and_counts():
    checks = [check_text(ENGLISH), check_text(""), *[check_text("short") for _ in range(6)]]
    with pytest.raises(InvalidTextError) as info:
        raise_for_problems(checks, limit=2)
    message = str(info.value)
    assert "7 of 8 texts refused (and 5 more)" in message
    assert "text 1: the text is empty" in message
    assert "check=False" in message


def test_raise_for_problems_is_silent_when_all_pass():
    raise_for_problems([check_text(ENGLISH)])
