"""Input checks for prediction: a string, not empty, enough words, English; long texts truncated.

The seed's page refused texts under 20 words and non-English texts; we keep both rules as
defaults and make them settings. Language identification uses ``py3langid``'s model: a
maintained fork of langid.py whose model ships inside the wheel as a numpy file (no download,
no pickle), needs only numpy, and identifies 97 languages. Heavier identifiers (lingua,
fastText's lid.176) are more accurate on very short strings, but we only judge texts of 20+
words, where langid is reliable, and fastText's model would have to be downloaded.
``check_texts`` identifies all the texts that reach the language rule in one batch
(``moviegenre.language``: py3langid's decisions, ~7x faster than its one-text ``rank``).

Most descriptions are plainly English, and identifying them still cost as much as the linear
model's whole prediction (issue 20). So a text whose sample is at least a quarter common English
words (``plainly_english``, ~10 µs: "the", "his", "when"...) is accepted without identification,
at the default threshold; every other text is identified as above. Of the 9,362 shared-data
descriptions the shortcut accepts 8,153 (87%), and the checks give every text the same verdict,
message and language as identifying them all (47 refused as not English, 38 once the 20-word
rule has refused the short ones); py3langid gives each text the shortcut accepts at least 0.59
probability of English and names English its most likely language. One description written
in fourteen other Latin-script languages, an English-Albanian text and English words amid
Chinese are none of them taken for plainly English (tests/test_checks.py checks all of this;
``english_shortcut=False`` identifies every text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from moviegenre.errors import ConfigError, InvalidTextError

#: Characters of a text the language identifier reads: enough to be sure, and it bounds cost.
LANGUAGE_SAMPLE_CHARS = 400
#: Fewest words in a description (the seed page's rule): the one home of the number.
MIN_WORDS = 20
#: The one text-length rule: characters of a text a model reads. A longer text is truncated
#: here and flagged (``TextCheck.truncated``), never refused: IMDb descriptions run to ~4,500
#: characters and encoders read a few hundred tokens anyway.
MAX_CHARS = 10_000
#: Not a text rule but the HTTP API's transport limit (``ApiSettings.max_chars``, ``moviegenre
#: serve api --max-chars``): characters one text of a request may carry, refused with 413
#: before any check, to bound what one request can make the server hold and score. It lies
#: under :data:`MAX_CHARS`, so a text the API accepts is never truncated.
TRANSPORT_MAX_CHARS = 5_000


def word_count(text: str, at_most: int | None = None) -> int:
    """Words of ``text`` (whitespace-separated): the one place that counts them.

    With ``at_most``, counting stops after that many words (the result is then at most
    ``at_most + 1``, exact below ``at_most``): a check against a minimum need not split a whole
    4,000-character description.
    """
    return len(text.split() if at_most is None else text.split(maxsplit=at_most))


@dataclass(frozen=True)
class CheckSettings:
    """What a text must satisfy before a model sees it.

    ``min_words`` and ``require_english`` reproduce the seed page (0 / False turn them off).
    ``max_chars`` truncates longer texts (flagged, not refused): descriptions in the IMDb data
    run to ~4,500 characters, and encoders read at most a few hundred tokens anyway.
    ``english_min_prob`` is the identifier's probability of English under which a text is
    refused; a low bar, so that English text full of names is not turned away.
    ``english_shortcut`` accepts plainly English texts without identifying their language
    (``plainly_english``; used only while ``english_min_prob`` <= SHORTCUT_MAX_PROB).
    """

    min_words: int = MIN_WORDS
    require_english: bool = True
    max_chars: int = MAX_CHARS
    english_min_prob: float = 0.1
    english_shortcut: bool = True

    def __post_init__(self) -> None:
        if self.min_words < 0:
            raise ConfigError(f"min_words must be >= 0, got {self.min_words}")
        if self.max_chars < 1:
            raise ConfigError(f"max_chars must be >= 1, got {self.max_chars}")
        if not 0 <= self.english_min_prob <= 1:
            raise ConfigError(f"english_min_prob must be in [0, 1], got {self.english_min_prob}")
        for name in ("require_english", "english_shortcut"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")


#: Settings that only refuse what no model can read (non-strings, empty texts).
NO_CONTENT_CHECKS = CheckSettings(min_words=0, require_english=False)


@dataclass(frozen=True)
class TextCheck:
    """The verdict on one text: the (possibly truncated) text, or why it was refused."""

    text: str
    problem: str | None = None
    code: str | None = None  # not_a_string | empty | too_short | not_english
    truncated: bool = False
    language: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


#: A text whose probability of English is at least the threshold plus this (and at least
#: SURE_ENGLISH) is accepted on the batched estimate; every other text is scored exactly as
#: py3langid does. The estimate is within ~1e-5 of py3langid's numbers, so every decision
#: is the same (see ``moviegenre.language``).
SURE_MARGIN = 0.1
SURE_ENGLISH = 0.6


#: Common words of English film descriptions, mostly function words, that are rare as words in
#: the other languages written in the Latin script.
_ENGLISH_WORDS = (
    "the and of to his her with when who whom whose their they this that these those from "
    "after for he she are have has been into about which while what him them it its but not "
    "were would could should than then being through between against before during must "
    "where there how only out you your our until because becomes finds tries is was an by "
    "up can will one new life young woman story world family love help get own himself "
    "herself"
)
ENGLISH_WORDS = frozenset(_ENGLISH_WORDS.split())
#: A sample is plainly English when at least this share of its words, and at least
#: SHORTCUT_LEAST_WORDS of them, are ENGLISH_WORDS (chosen on the shared data: see the module).
SHORTCUT_SHARE = 0.25
SHORTCUT_LEAST_WORDS = 5
#: The shortcut stands in for identification only up to this threshold: py3langid gives every
#: shared-data text it accepts at least 0.59 probability of English.
SHORTCUT_MAX_PROB = 0.3


def plainly_english(text: str) -> bool:
    """Whether at least a quarter, and at least five, of the words of the text's language sample
    (LANGUAGE_SAMPLE_CHARS) are ENGLISH_WORDS: identification accepted every such text of the
    shared data as English (see the module). A sample with fewer than one space per ten
    characters (an unspaced script) never is."""
    sample = text[:LANGUAGE_SAMPLE_CHARS]
    words = sample.lower().split()
    if len(words) * 10 < len(sample):
        return False
    hits = sum(map(ENGLISH_WORDS.__contains__, words))
    return hits >= SHORTCUT_LEAST_WORDS and hits >= SHORTCUT_SHARE * len(words)


def detect_languages(
    texts: Sequence[str], threshold: float | None = None
) -> list[tuple[str, float, float]]:
    """(most likely ISO 639-1 code, its probability, probability of English) of each text,
    judged on its first LANGUAGE_SAMPLE_CHARS characters, all in one batch.

    Without ``threshold`` every number is py3langid's; with it, texts far above it (surely
    English) may carry the batched estimate instead, within ~1e-5 (see SURE_MARGIN).
    """
    from moviegenre.language import identifier

    sure = 2.0 if threshold is None else max(SURE_ENGLISH, threshold + SURE_MARGIN)
    verdicts = identifier().identify([t[:LANGUAGE_SAMPLE_CHARS] for t in texts], sure)
    return [(v.language, v.probability, v.english) for v in verdicts]


def detect_language(text: str) -> tuple[str, float, float]:
    """Return (most likely ISO 639-1 code, its probability, probability of English)."""
    return detect_languages([text])[0]


def _language_verdict(
    check: TextCheck, detected: tuple[str, float, float], settings: CheckSettings
) -> TextCheck:
    """``check`` (which passed the other rules) judged by the language rule."""
    language, prob, english = detected
    if english < settings.english_min_prob:
        problem = f"the text does not look like English (detected {language!r}, p={prob:.2f})"
        return TextCheck(check.text, problem, "not_english", check.truncated, language)
    return TextCheck(check.text, None, None, check.truncated, language)


def _language_rule(checks: Sequence[TextCheck], settings: CheckSettings) -> list[TextCheck]:
    """``checks`` (which passed the other rules) judged by the language rule: plainly English
    texts are accepted as "en" while the shortcut applies, the others identified in one batch."""
    shortcut = settings.english_shortcut and settings.english_min_prob <= SHORTCUT_MAX_PROB
    judged: list[TextCheck] = []
    doubtful: list[int] = []
    for check in checks:
        if shortcut and plainly_english(check.text):
            judged.append(replace(check, language="en"))
        else:
            doubtful.append(len(judged))
            judged.append(check)
    if doubtful:
        detected = detect_languages([judged[i].text for i in doubtful], settings.english_min_prob)
        for i, verdict in zip(doubtful, detected, strict=True):
            judged[i] = _language_verdict(judged[i], verdict, settings)
    return judged


def check_text(text: Any, settings: CheckSettings = CheckSettings()) -> TextCheck:
    """Check one text against ``settings``; never raises for bad content, it reports it."""
    if not isinstance(text, str):
        return TextCheck("", f"expected a string, got {type(text).__name__}", "not_a_string")
    stripped = text.strip()
    if not stripped:
        return TextCheck("", "the text is empty", "empty")
    truncated = len(stripped) > settings.max_chars
    if truncated:
        stripped = stripped[: settings.max_chars]
    # A truncated text is long by definition; counting only matters below the limit, so the
    # count stops there (exact when it is short of it): splitting whole 4,000-character
    # descriptions cost ~10% of an unchecked linear predict_proba
    limit = settings.min_words
    n_words = limit if truncated else word_count(stripped, at_most=limit)
    if n_words < settings.min_words:
        problem = (
            f"the text has {n_words} word{'s' if n_words != 1 else ''}; "
            f"at least {settings.min_words} are needed for a reliable genre"
        )
        return TextCheck(stripped, problem, "too_short", truncated)
    check = TextCheck(stripped, None, None, truncated)
    return _language_rule([check], settings)[0] if settings.require_english else check


def as_text_list(texts: Any) -> list[Any]:
    """Accept one string or a sequence of them; anything else is an InvalidTextError."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, bytes):
        raise InvalidTextError("got bytes; decode them to str (UTF-8) before predicting")
    if isinstance(texts, Sequence) or hasattr(texts, "__array__"):
        return list(texts)
    if hasattr(texts, "__iter__") and not isinstance(texts, dict):
        return list(texts)
    raise InvalidTextError(f"expected a string or a list of strings, got {type(texts).__name__}")


def check_texts(texts: Sequence[Any], settings: CheckSettings = CheckSettings()) -> list[TextCheck]:
    """Check each text; the list mirrors the input. The texts that pass the other rules are
    judged by the language rule together (one batch for those it must identify)."""
    if not settings.require_english:
        return [check_text(t, settings) for t in texts]
    other_rules = replace(settings, require_english=False)
    checks = [check_text(t, other_rules) for t in texts]
    passed = [i for i, c in enumerate(checks) if c.ok]
    judged = _language_rule([checks[i] for i in passed], settings)
    for i, check in zip(passed, judged, strict=True):
        checks[i] = check
    return checks


def raise_for_problems(checks: Sequence[TextCheck], limit: int = 5) -> None:
    """Raise one InvalidTextError naming the first ``limit`` refused texts by index."""
    bad = [(i, c) for i, c in enumerate(checks) if not c.ok]
    if not bad:
        return
    lines = [f"text {i}: {c.problem}" for i, c in bad[:limit]]
    more = f" (and {len(bad) - limit} more)" if len(bad) > limit else ""
    hint = ""
    if any(c.code in ("too_short", "not_english") for _, c in bad):
        hint = "; to score such texts anyway, pass check=False or relax CheckSettings"
    raise InvalidTextError(
        f"{len(bad)} of {len(checks)} texts refused{more}: " + "; ".join(lines) + hint
    )
