"""Input checks: types, empty texts, word counts, language, truncation."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path

import pytest

from moviegenre.checks import (
    MAX_CHARS,
    MIN_WORDS,
    TRANSPORT_MAX_CHARS,
    CheckSettings,
    TextCheck,
    as_text_list,
    check_text,
    detect_language,
    raise_for_problems,
    word_count,
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


@pytest.mark.parametrize("min_words", [0, 1, 2, 5, 20])
@pytest.mark.parametrize("extra", [-2, -1, 0, 1, 7])
def test_words_are_counted_exactly_up_to_the_minimum(min_words, extra):
    """The count stops at the minimum (a speed-up) but a short text is told its exact count,
    whatever whitespace separates the words."""
    n = max(0, min_words + extra)
    text = " \t".join(f"word{i}\n" for i in range(n)) + "  "
    result = check_text(text, CheckSettings(min_words=min_words, require_english=False))
    if n == 0:
        assert result.code == "empty"
    elif n < min_words:
        assert result.code == "too_short" and f"has {n} word" in result.problem
    else:
        assert result.ok and result.text == text.strip()


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
        ({"require_english": "no"}, "require_english must be True or False, got 'no'"),
        ({"english_shortcut": 1}, "english_shortcut must be True or False, got 1"),
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


#: Texts of many languages, scripts and lengths, capitals, empty and featureless ones.
MANY_LANGUAGES = [
    ENGLISH,
    FRENCH,
    ENGLISH.upper(),
    "Ein pensionierter Kommissar kehrt in die kleine Küstenstadt zurück, in der er aufwuchs.",
    "Un detective retirado regresa al pequeño pueblo costero donde creció para investigar.",
    "Отставной детектив возвращается в маленький прибрежный город, где он вырос.",
    "退休的侦探回到他长大的海滨小镇，调查一名渔民的失踪。",
    "引退した刑事が、育った海辺の小さな町に戻ってくる。",
    "محقق متقاعد يعود إلى البلدة الساحلية الصغيرة التي نشأ فيها",
    "",
    "   ",
    "12345 67890 !!!",
    "x" * 900,
    "Mixed: the detective (le policier) returns; der Kommissar kehrt zurück.",
    "lone surrogate \ud800 and emoji \U0001f600 in English words about a film",
    "e\u0301cole ",  # decomposed: NFC-normalised first, as py3langid does
]


def _py3langid_rank(text):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ranked = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True).rank(text)
    english = next((p for lang, p in ranked if lang == "en"), 0.0)
    return ranked[0][0], ranked[0][1], english


def test_batched_identification_is_py3langids_to_the_bit():
    """moviegenre.language (a speed-up) gives py3langid's own numbers, alone and in a batch."""
    from moviegenre.checks import LANGUAGE_SAMPLE_CHARS, detect_languages

    expected = [_py3langid_rank(t[:LANGUAGE_SAMPLE_CHARS]) for t in MANY_LANGUAGES]
    assert detect_languages(MANY_LANGUAGES) == expected
    assert [detect_language(t) for t in MANY_LANGUAGES] == expected


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.5, 0.95, 1.0])
def test_batched_checks_refuse_what_one_by_one_checks_refuse(threshold):
    """check_texts scores surely-English texts by the batched product: same refusals, same
    messages (with py3langid's numbers) as checking each text alone."""
    from moviegenre.checks import check_texts

    settings = CheckSettings(min_words=0, english_min_prob=threshold)
    texts = [*MANY_LANGUAGES, *(t[: 20 * k] for k in range(1, 6) for t in MANY_LANGUAGES[:9])]
    batched = check_texts(texts, settings)
    alone = [check_text(t, settings) for t in texts]
    assert [(c.code, c.problem) for c in batched] == [(c.code, c.problem) for c in alone]
    assert [c.language for c in batched if c.ok] == [c.language for c in alone if c.ok]
    assert any(c.code == "not_english" for c in alone) == (threshold > 0)


def test_the_unpacked_model_is_cached_and_a_bad_cache_rebuilt(tmp_path):
    from moviegenre.language import load_arrays

    first = load_arrays(tmp_path)
    (cached,) = (tmp_path / "langid").iterdir()
    again = load_arrays(tmp_path)
    assert all((first[k] == again[k]).all() for k in first)
    cached.write_bytes(b"not an npz file")
    rebuilt = load_arrays(tmp_path)
    assert all((first[k] == rebuilt[k]).all() for k in first) and cached.stat().st_size > 1000


def test_the_cache_is_mapped_not_read_and_holds_the_table_as_float32(tmp_path):
    """A cold check maps the cache (a one-text check touches a few pages of it) and casts
    nothing: the float16 table is stored as its exact float32 cast."""
    import numpy as np

    from moviegenre.language import LanguageIdentifier, load_arrays

    load_arrays(tmp_path)  # builds the cache
    mapped = load_arrays(tmp_path)  # reads it back
    ptc = mapped["ptc"]
    assert ptc.dtype == np.float32 and not ptc.flags.owndata and not ptc.flags.writeable
    assert LanguageIdentifier(mapped).ptc.base is ptc.base  # no copy, no cast


def _object_record(path):
    """The cache with a pickled object array appended in place of its last record."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    path.write_bytes(path.read_bytes() + buffer.getvalue())


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), id="cut"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes() + b"\0" * 64), id="trailing"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(_object_record, id="object-record"),
    ],
)
def test_an_odd_cache_is_rebuilt_never_mapped(tmp_path, spoil):
    from moviegenre.language import _read_cache, load_arrays

    first = load_arrays(tmp_path)
    (cached,) = (tmp_path / "langid").iterdir()
    spoil(cached)
    with pytest.raises((ValueError, OSError)):
        _read_cache(cached)
    rebuilt = load_arrays(tmp_path)
    assert all((first[k] == rebuilt[k]).all() for k in first)
    assert all((rebuilt[k] == v).all() for k, v in _read_cache(cached).items())


# -- one text-length rule, one word count ----------------------------------------------------

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moviegenre"


@pytest.mark.parametrize(
    ("text", "at_most", "expected"),
    [
        ("", None, 0),
        ("  one\ttwo\nthree  ", None, 3),
        ("a b c d e", 2, 3),  # stops: at most at_most + 1
        ("a b", 5, 2),  # exact below at_most
    ],
)
def test_word_count_counts_whitespace_separated_words(text, at_most, expected):
    assert word_count(text, at_most) == expected


def test_one_text_length_rule_and_the_apis_transport_limit_below_it():
    """checks.MAX_CHARS is the rule (truncate); the API's max_chars is a transport limit (refuse)
    whose default, in ApiSettings and in the CLI, is checks' constant and lies under the rule,
    so a text the API accepts is never truncated."""
    pytest.importorskip("fastapi")
    from moviegenre.cli.servers import serve
    from moviegenre.serve.api import ApiSettings

    assert CheckSettings().max_chars == MAX_CHARS
    assert ApiSettings().max_chars == TRANSPORT_MAX_CHARS < MAX_CHARS
    default = inspect.signature(serve).parameters["max_chars"].default
    assert default == TRANSPORT_MAX_CHARS


def test_checks_is_the_only_module_that_counts_words():
    """No ``len(x.split(...))`` outside checks.py: every word count is checks.word_count."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "checks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "len"
                and node.args
                and isinstance(call := node.args[0], ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "split"
                and not call.args
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


# -- the plainly-English shortcut -------------------------------------------------------------

#: The same description in Latin-script languages that share short words with English, and
#: texts built to look English to a word count: none may skip identification.
NOT_PLAINLY_ENGLISH = {
    "de": "Ein pensionierter Kommissar kehrt in die kleine Küstenstadt zurück, in der er "
    "aufgewachsen ist, um das Verschwinden eines Fischers zu untersuchen, und entdeckt, dass "
    "das ganze Dorf ein altes Geheimnis hütet, über das man nicht sprechen will, was er bald "
    "versteht.",
    "nl": "Een gepensioneerde rechercheur keert terug naar het kleine kustdorp waar hij is "
    "opgegroeid om de verdwijning van een visser te onderzoeken, en ontdekt dat het hele dorp "
    "een oud geheim verbergt dat niemand wil vertellen, wat hij was vergeten.",
    "da": "En pensioneret kriminalbetjent vender tilbage til den lille kystby, hvor han "
    "voksede op, for at efterforske en fiskers forsvinden, og han opdager, at hele landsbyen "
    "skjuler en gammel hemmelighed, som ingen vil tale om, her og nu.",
    "sv": "En pensionerad kriminalkommissarie återvänder till den lilla kuststaden där han "
    "växte upp för att utreda en fiskares försvinnande, och han upptäcker att hela byn döljer "
    "en gammal hemlighet som ingen vill tala om.",
    "no": "En pensjonert etterforsker vender tilbake til den lille kystbyen der han vokste opp "
    "for å etterforske en fiskers forsvinning, og han oppdager at hele bygda skjuler en gammel "
    "hemmelighet som ingen vil snakke om.",
    "af": "'n Afgetrede speurder keer terug na die klein kusdorpie waar hy grootgeword het om "
    "die verdwyning van 'n visserman te ondersoek, en hy ontdek dat die hele dorp 'n ou geheim "
    "wegsteek waaroor niemand wil praat nie, want dit is gevaarlik.",
    "es": "Un detective retirado regresa al pequeño pueblo costero donde creció para investigar "
    "la desaparición de un pescador, y descubre que todo el pueblo esconde un viejo secreto del "
    "que nadie quiere hablar.",
    "it": "Un detective in pensione torna nella piccola città costiera dove è cresciuto per "
    "indagare sulla scomparsa di un pescatore, e scopre che l'intero villaggio nasconde un "
    "vecchio segreto di cui nessuno vuole parlare.",
    "pt": "Um detetive aposentado volta à pequena cidade costeira onde cresceu para investigar "
    "o desaparecimento de um pescador, e descobre que toda a aldeia esconde um velho segredo "
    "do qual ninguém quer falar.",
    "fr": FRENCH,
    "ro": "Un detectiv pensionat se întoarce în micul oraș de pe coastă unde a crescut pentru "
    "a investiga dispariția unui pescar și descoperă că întregul sat ascunde un secret vechi "
    "despre care nimeni nu vrea să vorbească.",
    "pl": "Emerytowany detektyw wraca do małego nadmorskiego miasteczka, w którym dorastał, "
    "aby zbadać zaginięcie rybaka, i odkrywa, że cała wioska skrywa starą tajemnicę, o której "
    "nikt nie chce mówić, to jest jego sprawa.",
    "id": "Seorang detektif pensiunan kembali ke kota pesisir kecil tempat dia dibesarkan untuk "
    "menyelidiki hilangnya seorang nelayan, dan menemukan bahwa seluruh desa menyembunyikan "
    "rahasia lama yang tidak ingin dibicarakan siapa pun.",
    "tl": "Isang retiradong detektib ang bumalik sa maliit na bayan sa baybayin kung saan siya "
    "lumaki upang imbestigahan ang pagkawala ng isang mangingisda, at natuklasan niya na ang "
    "buong nayon ay may itinatagong lumang lihim.",
    # English first, then another language: py3langid reads the whole sample, so must this
    "en+sq": "English: A comedy by a well-known theatre. A comedy known and loved by all, "
    "under the interpretation of the most famous actors. Albanian: Nje komedi nga Teatri "
    "Popullor Shqiptar. Komedia me e njohur dhe me e dashur për të gjithë, nën interpretimin "
    "e aktoreve më të njohur të Teatrit Kombëtar, nje komedi qe siguron vetem te qeshura.",
    # English words sprinkled into an unspaced script
    "zh+en": "the and of to his her with when who they " * 2
    + "退休的侦探回到他长大的海滨小镇调查一名渔民的失踪" * 12,
}


@pytest.mark.parametrize("language", sorted(NOT_PLAINLY_ENGLISH))
def test_other_languages_are_never_plainly_english(language):
    """The shortcut's words are rare in other languages: these are identified, not waved
    through, and the checks' verdict is the identifier's own."""
    from moviegenre.checks import plainly_english

    text = NOT_PLAINLY_ENGLISH[language]
    assert not plainly_english(text)
    exact = CheckSettings(english_shortcut=False)
    assert check_text(text) == check_text(text, exact)


def _identifier_must_not_run(monkeypatch):
    import moviegenre.language

    def refuse():
        raise AssertionError("language identification ran")

    monkeypatch.setattr(moviegenre.language, "identifier", refuse)


def test_plainly_english_texts_skip_identification(monkeypatch):
    from moviegenre.checks import check_texts, plainly_english

    assert plainly_english(ENGLISH)
    _identifier_must_not_run(monkeypatch)
    assert check_text(ENGLISH) == TextCheck(ENGLISH, language="en")
    texts = [ENGLISH, ENGLISH.upper()]
    assert check_texts(texts) == [TextCheck(t, language="en") for t in texts]


@pytest.mark.parametrize(
    "settings",
    [
        CheckSettings(english_shortcut=False),
        CheckSettings(english_min_prob=0.5),  # above SHORTCUT_MAX_PROB: only py3langid decides
    ],
)
def test_the_shortcut_is_not_taken_when_turned_off_or_the_bar_is_high(monkeypatch, settings):
    from moviegenre.checks import check_texts

    _identifier_must_not_run(monkeypatch)
    with pytest.raises(AssertionError, match="identification ran"):
        check_text(ENGLISH, settings)
    with pytest.raises(AssertionError, match="identification ran"):
        check_texts([ENGLISH] * 10, settings)


@pytest.mark.parametrize(("min_words", "not_english"), [(0, 47), (MIN_WORDS, 38)])
def test_the_shortcut_refuses_what_identification_refuses_on_the_shared_data(
    shared_data_dir, shared_multilabel_csv, min_words, not_english
):
    """On every shared-data description, the checks with the shortcut give the same verdicts,
    messages and languages as identifying every text; py3langid gives each text the shortcut
    accepts a probability of English far above SHORTCUT_MAX_PROB (the figures checks.py and
    the README quote)."""
    from moviegenre.checks import SHORTCUT_MAX_PROB, check_texts, detect_languages, plainly_english
    from moviegenre.data import load_dataset

    files = [shared_data_dir / "train_data.txt", shared_data_dir / "test_data_solution.txt"]
    with pytest.warns(Warning):
        texts = [t for path in [*files, shared_multilabel_csv] for t in load_dataset(path).texts]
    settings = CheckSettings(min_words=min_words)
    fast = check_texts(texts, settings)
    exact = check_texts(texts, replace(settings, english_shortcut=False))
    assert fast == exact
    assert sum(c.code == "not_english" for c in fast) == not_english
    plain = [t.strip() for t in texts if plainly_english(t.strip())]
    assert (len(plain), len(texts)) == (8_153, 9_362)
    detected = detect_languages(plain)
    assert {language for language, _, _ in detected} == {"en"}
    assert round(min(english for _, _, english in detected), 2) == 0.59 > SHORTCUT_MAX_PROB
