"""The web page (``moviegenre app``): type a description, see its genres and why.

The seed's Streamlit page, grown: the same checks (20+ words, English) as friendly messages,
a horizontal bar chart of the top genres, the words that pushed the prediction highlighted,
one-click examples and a model panel. For a multi-label model the page leads with the genres
it assigns (each at or above its decision threshold, at least the top one) and offers genre
sets by recall instead of coverage. The model loads once per process (``st.cache_resource``);
the page logic lives in small functions that the tests call directly.
"""

from __future__ import annotations

import html
import os
import string
from typing import Any

import pandas as pd
import streamlit as st

from moviegenre.checks import MIN_WORDS, check_text, word_count
from moviegenre.classifier import MODEL_ENV, GenreClassifier, GenreScores
from moviegenre.errors import MovieGenreError
from moviegenre.examples import EXAMPLES
from moviegenre.explain import Explanation
from moviegenre.results import Prediction

TOP_K = 5
#: Words whose |weight| is under this share of the largest one are left unmarked, and so are
#: words whose weight lies inside its noise band (``WordWeight.significant`` is False).
HIGHLIGHT_FLOOR = 0.15
#: Coverage choices for the genre set ("off" shows none).
COVERAGES = {"off": None, "80%": 0.8, "90%": 0.9, "95%": 0.95}
#: The same choices for a multi-label model's genre set: the mean share of a film's genres.
RECALLS = COVERAGES
#: Every ASCII punctuation character, each backslash-escaped by :func:`plain`.
_MARKDOWN_PUNCTUATION = str.maketrans({c: "\\" + c for c in string.punctuation})
LANGUAGES = {"fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese"}


@st.cache_resource(show_spinner="Loading the model...")
def load_classifier(path: str = "") -> GenreClassifier:
    """The model at ``path`` (empty: $MOVIEGENRE_MODEL, else the bundled one), once per process."""
    return GenreClassifier.load(path or None)


def plain(text: str) -> str:
    """``text`` as literal text inside ``st.markdown`` and the other Markdown elements.

    Strings from a model file (genres, names, messages quoting it) and from the visitor are
    never Markdown, HTML or Streamlit markup: every ASCII punctuation character is
    backslash-escaped (CommonMark shows an escaped character as itself), so ``![w](URL)`` is
    no image, ``<img>`` no tag, ``:red[x]`` no colour and ``$x$`` no formula.
    """
    return text.translate(_MARKDOWN_PUNCTUATION)


def check_message(classifier: GenreClassifier, text: str) -> str | None:
    """A friendly sentence saying why ``text`` cannot be classified, or None when it can."""
    verdict = check_text(text, classifier.checks)
    if verdict.ok:
        return None
    if verdict.code == "empty":
        return "Type or paste a movie description first, or pick one of the examples."
    if verdict.code == "too_short":
        n = word_count(verdict.text)
        return (
            f"Please write at least {classifier.checks.min_words} words: this description has "
            f"{n}. Short texts do not carry enough clues for a reliable genre."
        )
    if verdict.code == "not_english":
        language = LANGUAGES.get(verdict.language or "", f"'{verdict.language}'")
        return (
            f"This does not look like English (it reads like {language}). The model only "
            "understands English descriptions."
        )
    return f"This text cannot be classified: {verdict.problem}."


def chart_frame(genres: GenreScores) -> pd.DataFrame:
    """The top genres as a two-column frame for the bar chart, most probable first."""
    return pd.DataFrame({"genre": [g for g, _ in genres], "probability": [p for _, p in genres]})


def highlight_html(explanation: Explanation, floor: float = HIGHLIGHT_FLOOR) -> str:
    """The original text as HTML: green words pushed toward the genre, red ones away from it;
    words inside their noise band stay uncoloured, however large their weight."""
    text = explanation.text
    shown = [w for w in explanation.words if w.significant]
    peak = max((abs(w.weight) for w in shown), default=0.0)
    parts, cursor = [], 0
    for word in shown:
        share = abs(word.weight) / peak if peak else 0.0
        if share < floor:
            continue
        colour = "34,139,34" if word.weight > 0 else "200,40,40"
        parts.append(html.escape(text[cursor : word.start]))
        parts.append(
            f'<mark style="background: rgba({colour},{0.15 + 0.6 * share:.2f}); '
            f'padding: 0 2px; border-radius: 3px" '
            f'title="{word.weight:+.3f} +/- {word.noise:.3f}">'
            f"{html.escape(text[word.start : word.end])}</mark>"
        )
        cursor = word.end
    parts.append(html.escape(text[cursor:]))
    return '<div style="line-height: 1.8">' + "".join(parts) + "</div>"


def model_facts(classifier: GenreClassifier) -> dict[str, str]:
    """Name, kind, version and creation date of the model, for the side panel (as plain text)."""
    info = classifier.info
    return {
        "name": info.name,
        "kind": info.kind,
        "version": info.moviegenre_version,
        "created": info.created[:10] or "unknown",
        "genres": str(len(info.genres)),
        "genres per text": "several (multi-label)" if info.multi_label else "one",
    }


#: Headline scores of the side panel, by key: a single-label model's, a multi-label one's.
SINGLE_LABEL_SCORES = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "top3_accuracy": "top-3 acc.",
}
MULTI_LABEL_SCORES = {
    "micro_f1": "micro-F1",
    "macro_f1": "macro-F1",
    "samples_f1": "samples-F1",
    "hit_at_1": "hit@1",
    "hit_at_3": "hit@3",
}


def metric_rows(metrics: dict[str, Any], multi_label: bool = False) -> pd.DataFrame:
    """Headline metrics (rows) of each evaluated split (columns, e.g. validation, test); a
    multi-label model's are its genre-set scores (micro-F1, ..., hit@3)."""
    names = MULTI_LABEL_SCORES if multi_label else SINGLE_LABEL_SCORES
    table: dict[str, list[float | None]] = {}
    for split, values in metrics.items():
        if isinstance(values, dict) and any(k in values for k in names):
            table[split] = [
                round(float(v), 3) if isinstance(v := values.get(k), int | float) else None
                for k in names
            ]
    if not table:
        return pd.DataFrame()
    return pd.DataFrame({"metric": list(names.values()), **table})


def labels_text(labels: GenreScores) -> str:
    """A multi-label model's assigned genres as a Markdown headline (genres escaped)."""
    listed = ", ".join(f"**{plain(g)}** ({p:.0%})" for g, p in labels)
    return f"### Genres: {listed}"


def recall_set_text(result: Prediction, n_genres: int) -> str | None:
    """A multi-label model's recall set (``classify(recall=...)``) as a sentence, or None when
    none was asked for (genres escaped)."""
    if result.recall is None or result.genre_set is None:
        return None
    listed = ", ".join(f"{plain(g)} ({p:.0%})" for g, p in result.genre_set)
    return (
        f"Genre set at {result.recall:.0%} recall ({len(result.genre_set)} of {n_genres} "
        f"genres): {listed}. Over descriptions like the training data, such sets hold "
        f"{result.recall:.0%} of a film's genres on average."
    )


def set_text(classifier: GenreClassifier, text: str, coverage: float | None) -> str | None:
    """The conformal genre set of ``text`` as a sentence, or None when off or unavailable; when
    the set holds genres far below the top one, why (``GenreClassifier.set_basis``)."""
    from moviegenre.conformal import holds_far_below

    if coverage is None or classifier.info.conformal is None:
        return None
    genres = classifier.predict_set([text], coverage, check=False)[0]
    listed = ", ".join(f"{plain(g)} ({p:.0%})" for g, p in genres)
    sentence = (
        f"Genre set at {coverage:.0%} coverage ({len(genres)} of {len(classifier.genres)} "
        f"genres): {listed}. Over descriptions like the training data, {coverage:.0%} of such "
        "sets hold the true genre."
    )
    if holds_far_below([p for _, p in genres]):
        sentence += " " + plain(classifier.set_basis(coverage).describe(classifier.genres))
    return sentence


# -- the page --------------------------------------------------------------------------------


def _predict(classifier: GenreClassifier) -> None:
    text = st.session_state.get("description", "")
    st.session_state.problem = check_message(classifier, text)
    st.session_state.result = None
    st.session_state.labels = None
    st.session_state.genre_set = None
    if st.session_state.problem is None:
        try:
            st.session_state.result = classifier.explain(
                text, top_k=min(TOP_K, len(classifier.genres))
            )
            if classifier.info.multi_label:  # its genres and, if asked, its recall set
                recall = RECALLS.get(st.session_state.get("recall", "off"))
                assigned = classifier.classify([text], check=False, recall=recall)[0]
                st.session_state.labels = assigned.labels
                st.session_state.genre_set = recall_set_text(assigned, len(classifier.genres))
            else:
                coverage = COVERAGES.get(st.session_state.get("coverage", "off"))
                st.session_state.genre_set = set_text(classifier, text, coverage)
        except MovieGenreError as exc:  # e.g. a model that cannot score this text
            st.session_state.problem = f"The model could not classify this text: {plain(str(exc))}"


def _clear() -> None:
    st.session_state.description = ""
    st.session_state.problem = None
    st.session_state.result = None
    st.session_state.labels = None


def _use_example(classifier: GenreClassifier, text: str) -> None:
    st.session_state.description = text
    _predict(classifier)


def _side_panel(classifier: GenreClassifier) -> None:
    with st.sidebar:
        st.header("Model")
        for key, value in model_facts(classifier).items():
            st.text(f"{key}: {value}")  # plain text: these come from model.json
        if classifier.card_path is not None:
            st.text(f"model card: {classifier.card_path}")  # a path: plain text too
        table = metric_rows(classifier.metrics, classifier.info.multi_label)
        if not table.empty:
            st.caption("Scores")
            st.dataframe(table, hide_index=True)


def _results(result: Explanation, labels: GenreScores | None) -> None:
    genre, probability = result.genres[0]
    if labels:
        st.markdown(labels_text(labels))
        st.caption(
            "Each genre at or above its decision threshold (at least the top one); the chart "
            "shows each genre's own probability, so they need not add up to 100%."
        )
    else:
        st.markdown(f"### Most likely genre: **{plain(genre)}** ({probability:.0%})")
    st.bar_chart(
        chart_frame(result.genres),
        x="genre",
        y="probability",
        horizontal=True,
        sort="-probability",
    )
    st.markdown(
        f"**Why {plain(genre)}?** Words that pushed toward it are green, away from it red; "
        "words whose push is within the explanation's noise are left plain."
    )
    st.markdown(highlight_html(result), unsafe_allow_html=True)
    top = plain(", ".join(w.word for w in result.top_words(8)))
    st.caption(f"Strongest clues ({result.method}): {top or 'none'}")


def main() -> None:
    """Render the page; Streamlit reruns this on every interaction."""
    st.set_page_config(page_title="Movie genre", page_icon="🎬", layout="wide")
    st.title("Movie genre")
    st.write(
        f"Paste an English movie description ({MIN_WORDS} words or more) to see its likely genres."
    )
    try:
        classifier = load_classifier(os.environ.get(MODEL_ENV, ""))
    except MovieGenreError as exc:
        st.error("The model could not be loaded:")
        st.text(str(exc))  # plain text: the message may quote model.json
        st.stop()
    st.session_state.setdefault("problem", None)
    st.session_state.setdefault("result", None)
    st.session_state.setdefault("genre_set", None)
    st.session_state.setdefault("labels", None)
    _side_panel(classifier)

    left, right = st.columns([3, 2])
    with left:
        text = st.text_area("Description", key="description", height=180)
        st.caption(f"{word_count(text)} words")
        predict, clear, _ = st.columns([1, 1, 4])
        predict.button(
            "Predict", key="predict", type="primary", on_click=_predict, args=[classifier]
        )
        clear.button("Clear", key="clear", on_click=_clear)
        if classifier.info.multi_label:
            if classifier.info.label_rule is not None and classifier.info.label_rule.calibrated:
                st.selectbox("Genre set (recall)", list(RECALLS), index=0, key="recall")
        elif classifier.info.conformal is not None:
            st.selectbox("Genre set (coverage)", list(COVERAGES), index=2, key="coverage")
    with right:
        if st.session_state.problem:
            st.warning(st.session_state.problem)
        st.caption("Or try an example:")
        for i, (title, example) in enumerate(EXAMPLES.items()):
            st.button(title, key=f"example_{i}", on_click=_use_example, args=[classifier, example])

    if st.session_state.result is not None:
        _results(st.session_state.result, st.session_state.labels)
        if st.session_state.genre_set:
            st.info(st.session_state.genre_set)


if __name__ == "__main__":
    main()
