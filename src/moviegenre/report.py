"""Data (and model) report: summary numbers, PNG figures and one self-contained index.html.

``summarize`` and ``genre_terms`` are the testable numbers; ``build_report`` draws and writes.
"""

from __future__ import annotations

import base64
import html
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moviegenre import figures
from moviegenre._util import write_text
from moviegenre.audit import AuditResult
from moviegenre.checks import CheckSettings, check_text, word_count
from moviegenre.classifier import GenreClassifier
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError, DataError
from moviegenre.grading import ModelGrade, model_scores
from moviegenre.metrics import headline
from moviegenre.progress import report

#: The group name used for word clouds and terms of an unlabelled file.
ALL_ROWS = "all descriptions"
HISTORY_FILE = "history.json"
MODEL_CARD = "MODEL_CARD.md"


@dataclass(frozen=True)
class ReportSettings:
    """What the report computes: terms per genre, language-check sample size, random_state."""

    top_terms: int = 10
    #: Rows whose language is identified; a larger file is sampled (seeded) to bound the time.
    language_sample: int = 5_000
    random_state: int = 0
    batch_size: int = 256
    checks: CheckSettings = field(default_factory=CheckSettings)

    def __post_init__(self) -> None:
        if self.top_terms < 1:
            raise ConfigError(f"top_terms must be >= 1, got {self.top_terms}")
        if self.language_sample < 1:
            raise ConfigError(f"language_sample must be >= 1, got {self.language_sample}")


# -- numbers ---------------------------------------------------------------------------------


def summarize(dataset: Dataset, settings: ReportSettings = ReportSettings()) -> dict[str, Any]:
    """The summary table's numbers; empty/short/non-English come from the library's checks."""
    quality = dataset.quality()
    cheap = CheckSettings(min_words=settings.checks.min_words, require_english=False)
    verdicts = [check_text(t, cheap) for t in dataset.texts]
    codes = Counter(v.code for v in verdicts)
    readable = [i for i, v in enumerate(verdicts) if v.ok]
    sample = readable
    if len(readable) > settings.language_sample:
        rng = random.Random(settings.random_state)
        sample = sorted(rng.sample(readable, settings.language_sample))
    full = CheckSettings(
        min_words=settings.checks.min_words,
        english_min_prob=settings.checks.english_min_prob,
        max_chars=settings.checks.max_chars,
    )
    non_english = sum(check_text(dataset.texts[i], full).code == "not_english" for i in sample)
    words = [word_count(t) for t in dataset.texts]
    years = [y for y in dataset.years if y is not None]
    sets = dataset.genre_sets()
    return {
        "rows": quality["rows"],
        "labelled": dataset.has_labels,
        "genres": quality["genres"],
        "multi_label": dataset.multi_label,
        "genres_per_row_mean": sum(map(len, sets)) / len(sets) if sets else 0.0,
        "multi_genre_rows": quality["multi_genre_rows"],
        "skipped_no_description": quality["skipped_no_description"],
        "skipped_no_genres": quality["skipped_no_genres"],
        "duplicate_texts": quality["duplicate_texts"],
        "conflicting_labels": quality["conflicting_labels"],
        "empty_texts": codes["empty"],
        "short_texts": codes["too_short"],
        "min_words": settings.checks.min_words,
        "language_checked": len(sample),
        "language_sampled": len(sample) < len(readable),
        "non_english": non_english,
        "non_english_share": non_english / len(sample) if sample else 0.0,
        "years_parsed": len(years),
        "year_min": min(years) if years else None,
        "year_max": max(years) if years else None,
        "words_median": float(np.median(words)) if words else 0.0,
        "words_max": max(words) if words else 0,
    }


def genre_counts(dataset: Dataset) -> dict[str, int]:
    """Rows per genre (a row counts for each of its genres), most frequent first; empty for an
    unlabelled file."""
    return dataset.genre_counts()


def _groups(dataset: Dataset) -> list[tuple[str, ...]]:
    """Each row's genres; every row of an unlabelled file is in the one group ALL_ROWS."""
    return dataset.genre_sets() if dataset.has_labels else [(ALL_ROWS,)] * len(dataset)


def cooccurring_pairs(dataset: Dataset, top: int = 15) -> list[tuple[str, str, int]]:
    """The ``top`` genre pairs held together by the most rows: (genre, genre, rows), the more
    frequent genre first; none for a single-label file."""
    names, matrix = dataset.cooccurrence()
    pairs = [
        (names[i], names[j], int(matrix[i, j]))
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if matrix[i, j]
    ]
    return sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))[:top]


#: Strength of the informative Dirichlet prior of ``genre_terms``, in pseudo-counts per genre.
PRIOR_STRENGTH = 500.0


def _counts(texts: list[str]) -> tuple[Any, np.ndarray] | None:
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{3,}\b")
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no terms left (all stop words)
        return None
    return matrix.tocsr(), vectorizer.get_feature_names_out()


def genre_terms(dataset: Dataset, n_terms: int = 30) -> dict[str, dict[str, float]]:
    """Top ``n_terms`` words that set each genre apart from the others, with their z-scores.

    The weighted log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi & Quinn
    2008, "Fightin' Words"): a word's log-odds in the genre's descriptions minus its log-odds
    in all the other descriptions, each smoothed toward the word's share of the whole file
    (``PRIOR_STRENGTH`` pseudo-counts), divided by its standard error. A word as frequent
    everywhere scores ~0, so common words ("life", "story") top no genre; only words more
    frequent in the genre than elsewhere (z > 0) are kept. In a genre of 3+ rows a word must
    occur in 2+ of them (names of one plot drop out). An unlabelled file (one group) gets its
    most frequent words (documents containing each).
    """
    groups = _groups(dataset)
    order = list(genre_counts(dataset)) or [ALL_ROWS]
    fitted = _counts([t or "" for t in dataset.texts])
    result: dict[str, dict[str, float]] = {g: {} for g in order}
    if fitted is None:
        return result
    matrix, vocabulary = fitted
    total = np.asarray(matrix.sum(axis=0), dtype=np.float64).ravel()
    prior = PRIOR_STRENGTH * total / max(total.sum(), 1.0)
    a0 = prior.sum()
    for genre in order:
        rows = matrix[[i for i, genres in enumerate(groups) if genre in genres]]
        docs = np.asarray((rows > 0).sum(axis=0)).ravel()
        if len(order) == 1:
            weights = docs.astype(np.float64)
        else:
            mine = np.asarray(rows.sum(axis=0), dtype=np.float64).ravel()
            rest = total - mine
            n_mine, n_rest = mine.sum(), rest.sum()
            delta = np.log((mine + prior) / (n_mine + a0 - mine - prior)) - np.log(
                (rest + prior) / (n_rest + a0 - rest - prior)
            )
            weights = delta / np.sqrt(1 / (mine + prior) + 1 / (rest + prior))
            weights = np.where(mine > 0, weights, 0.0)
        if rows.shape[0] >= 3:
            weights = np.where(docs >= 2, weights, 0.0)
        top = np.argsort(-weights, kind="stable")[:n_terms]
        result[genre] = {str(vocabulary[j]): float(weights[j]) for j in top if weights[j] > 0}
    return result


def read_history(model_dir: Path | None) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """(per-epoch rows, best epoch, problem) from a model's history.json; never raises."""
    path = None if model_dir is None else Path(model_dir) / HISTORY_FILE
    if path is None or not path.is_file():
        return [], None, None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], None, f"{path} could not be read ({exc}); no training curves"
    best = raw.get("best_epoch") if isinstance(raw, dict) else None
    if isinstance(raw, dict):
        raw = next((v for k, v in raw.items() if k in ("epochs", "history")), [])
    rows = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    if best is None:
        best = next((r["best_epoch"] for r in rows if "best_epoch" in r), None)
    if not rows:
        return [], None, f"{path} holds no per-epoch rows; no training curves"
    return rows, best if isinstance(best, int) and not isinstance(best, bool) else None, None


# -- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;margin:0;
background:#f9fafb;line-height:1.45}
main{max-width:1104px;margin:0 auto;padding:24px 28px;background:white}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;border-bottom:1px solid
#e5e7eb;padding-bottom:4px}h3{font-size:16px;margin:20px 0 8px}
.meta,.note{color:#6b7280;font-size:14px}.note{margin:6px 0 12px}
table{border-collapse:collapse;font-size:14px;margin:8px 0 16px}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.pair{display:flex;gap:8px;flex-wrap:wrap}.pair img{max-width:calc(50% - 4px)}
.card{border:1px solid #e5e7eb;border-radius:6px;padding:4px 18px;background:#fcfcfd;
font-size:14px}.card h1{font-size:20px}.card h2{font-size:16px;margin:18px 0 6px}
.warn{color:#92400e}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    def cells(tag: str, values: list[Any]) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in numeric else ''}>{_e(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _markdown(text: str) -> str:
    """A model card (a file beside an untrusted model) as HTML: raw HTML is shown as text and
    images as links, so opening the report never makes the browser fetch anything."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return f"<pre>{_e(text)}</pre>"
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image").render(text)


def _summary_rows(s: dict[str, Any]) -> list[list[Any]]:
    def share(n: int) -> str:
        return f"{n / s['rows']:.1%}" if s["rows"] else "-"

    lang = f"{s['non_english']:,} of {s['language_checked']:,}"
    lang += " sampled" if s["language_sampled"] else ""
    years = f"{s['year_min']}-{s['year_max']}" if s["years_parsed"] else "none parsed"
    several = (
        [
            [
                "genres per row (mean); rows with several",
                f"{s['genres_per_row_mean']:.2f}; {s['multi_genre_rows']:,}",
                share(s["multi_genre_rows"]),
            ]
        ]
        if s["multi_label"]
        else []
    )
    skipped = [
        [f"rows left out while loading ({what})", f"{s[key]:,}", ""]
        for key, what in (
            ("skipped_no_description", "no description"),
            ("skipped_no_genres", "no genre"),
        )
        if s[key]
    ]
    return [
        ["rows", f"{s['rows']:,}", ""],
        *skipped,
        ["genres", s["genres"] if s["labelled"] else "unlabelled file", ""],
        *several,
        [
            "duplicate descriptions (extra copies)",
            f"{s['duplicate_texts']:,}",
            share(s["duplicate_texts"]),
        ],
        ["descriptions with conflicting labels", f"{s['conflicting_labels']:,}", ""],
        ["empty descriptions", f"{s['empty_texts']:,}", share(s["empty_texts"])],
        [
            f"short descriptions (1-{s['min_words'] - 1} words)",
            f"{s['short_texts']:,}",
            share(s["short_texts"]),
        ],
        ["not English (of the rows with enough words)", lang, f"{s['non_english_share']:.1%}"],
        [
            "release years parsed from titles",
            f"{s['years_parsed']:,} ({years})",
            share(s["years_parsed"]),
        ],
        ["words per description (median / max)", f"{s['words_median']:g} / {s['words_max']:,}", ""],
    ]


def _metric_row(source: str, m: dict[str, Any]) -> list[Any]:
    keys = ("accuracy", "macro_f1", "weighted_f1", "top3_accuracy")
    values = [f"{m[k]:.3f}" if isinstance(m.get(k), int | float) else "-" for k in keys]
    return [source, f"{m['rows']:,}" if isinstance(m.get("rows"), int) else "-", *values]


def _recorded_metrics(classifier: GenreClassifier) -> list[list[Any]]:
    rows = []
    for name, value in classifier.metrics.items():
        if isinstance(value, dict) and any(isinstance(v, int | float) for v in value.values()):
            where = f" ({Path(value['data']).name})" if isinstance(value.get("data"), str) else ""
            rows.append(_metric_row(f"recorded in model.json: {name}{where}", value))
    return rows


# -- building --------------------------------------------------------------------------------


def _out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a directory for index.html and the PNGs")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write the report to {out} ({exc.strerror}); choose another --out"
        ) from None
    return out


def _data_sections(dataset: Dataset, out: Path, s: ReportSettings, summary: dict) -> list[str]:
    parts = [
        "<h2>1. Dataset summary</h2>",
        _table(["", "value", "share"], _summary_rows(summary), {1, 2}),
    ]
    parts.append(
        f'<p class="note">Empty, short (under {summary["min_words"]} words) and non-English '
        "descriptions are flagged by the checks the classifier applies before predicting; the "
        "language is judged only on descriptions with enough words. Duplicates compare texts "
        "ignoring case and spacing.</p>"
    )
    counts = genre_counts(dataset)
    parts.append("<h2>2. Genre distribution</h2>")
    if counts:
        rows = len(dataset) if dataset.multi_label else None
        path = figures.genre_bars(counts, out / "genre_distribution.png", rows=rows)
        parts.append(_img(path, "genres"))
    else:
        parts.append('<p class="note">The file has no genre labels.</p>')
    if dataset.multi_label:
        parts += _several_genres_section(dataset, out)
    parts.append("<h2>3. Release years and description lengths</h2><div class=pair>")
    years = [y for y in dataset.years if y is not None]
    if years:
        title = f"Release year ({len(years):,} of {len(dataset):,} titles)"
        path = figures.histogram(
            years,
            out / "release_years.png",
            title=title,
            xlabel="year (from the title)",
            integer_bins=True,
        )
        parts.append(_img(path, "release years"))
    words = [word_count(t) for t in dataset.texts]
    path = figures.histogram(
        words, out / "description_lengths.png", title="Description length", xlabel="words"
    )
    parts.append(_img(path, "description lengths") + "</div>")
    if not years:
        parts.append('<p class="note">No release year could be parsed from the titles.</p>')
    return parts


def _several_genres_section(dataset: Dataset, out: Path) -> list[str]:
    """Label cardinality, the most frequent genre pairs and the co-occurrence heatmap."""
    per_row = dataset.genres_per_row()
    total = len(dataset)
    sizes = [[n, f"{rows:,}", f"{rows / total:.1%}"] for n, rows in per_row.items()]
    mean = sum(n * rows for n, rows in per_row.items()) / total
    counts = dataset.genre_counts()
    pairs = [
        [a, b, f"{n:,}", f"{n / counts[a]:.0%}", f"{n / counts[b]:.0%}"]
        for a, b, n in cooccurring_pairs(dataset)
    ]
    names, matrix = dataset.cooccurrence()
    return [
        "<h3>Several genres per row</h3>",
        f"<p>{mean:.2f} genres per row on average (label cardinality).</p>",
        _table(["genres in the row", "rows", "share"], sizes, {0, 1, 2}),
        "<h3>Genres that come together most often</h3>",
        _table(
            [
                "genre",
                "with genre",
                "rows",
                "share of the first's rows",
                "share of the second's rows",
            ],
            pairs,
            {2, 3, 4},
        ),  # fmt: skip
        _img(figures.cooccurrence(names, matrix, out / "genre_cooccurrence.png"), "co-occurrence"),
        '<p class="note">A cell counts the rows that hold both genres; its colour is their '
        "share of the rows of the genre on the left. The diagonal (grey) is each genre's "
        "rows.</p>",
    ]


def _terms_section(dataset: Dataset, out: Path, s: ReportSettings) -> list[str]:
    terms = genre_terms(dataset, n_terms=max(30, s.top_terms))
    rows = genre_counts(dataset) or {ALL_ROWS: len(dataset)}
    parts = ["<h2>4. Most characteristic words per genre</h2>"]
    try:
        parts.append(
            _img(
                figures.wordcloud_grid(
                    terms, rows, out / "wordclouds.png", random_state=s.random_state
                ),
                "word clouds",
            )
        )
    except ImportError:
        parts.append(
            '<p class="note warn">Word clouds need the wordcloud package: pip install '
            "'moviegenre[report]'. The table below has the same terms.</p>"
        )
    table = [
        [g, f"{rows[g]:,}", ", ".join(list(t)[: s.top_terms]) or "-"] for g, t in terms.items()
    ]
    labelled = dataset.has_labels and len(rows) > 1
    how = "that set each genre apart (log-odds z-score)" if labelled else "most frequent"
    parts.append(f"<h3>Top {s.top_terms} terms {how}</h3>")
    parts.append(_table(["genre", "rows", "terms"], table, {1}))
    parts.append(
        '<p class="note">A genre\'s words are those more frequent in its descriptions than in '
        "the others, ranked by the weighted log-odds ratio with an informative Dirichlet prior "
        "(Monroe, Colaresi &amp; Quinn 2008), so words common to every genre top none. English "
        "stop words and words under 3 letters are left out; in a genre of 3+ rows a word must "
        "appear in at least 2 of its descriptions.</p>"
    )
    return parts


_METRIC_HEADER = ["scored on", "rows", "accuracy", "macro-F1", "weighted-F1", "top-3 accuracy"]


def _model_sections(dataset: Dataset, clf: GenreClassifier, out: Path, s: ReportSettings) -> list:
    parts = [
        f"<h2>5. Model: {_e(clf.name)} ({_e(clf.kind)})</h2>",
        f'<p class="meta">{_e(clf.path)}</p>',
    ]
    card = clf.card_path
    if card is not None:
        parts.append(f'<div class="card">{_markdown(card.read_text(encoding="utf-8"))}</div>')
    else:
        parts.append(f'<p class="note">No {MODEL_CARD} next to the model.</p>')
    rows = _recorded_metrics(clf)
    if dataset.multi_label:  # genre sets are scored by `moviegenre evaluate`, not here
        parts.append("<h3>Metrics</h3>")
        parts.append(
            _table(_METRIC_HEADER, rows, {1, 2, 3, 4, 5}) if rows else "<p>No metrics.</p>"
        )
        parts.append(
            '<p class="note">The data holds several genres per row: the report does not score '
            "the model on it; <code>moviegenre evaluate</code> gives the multi-label metrics.</p>"
        )
        return parts + _curves(clf, out)
    grade = model_scores(dataset, clf, batch_size=s.batch_size)
    metrics = grade.metrics
    if metrics is not None:
        source = f"this report's data: {Path(dataset.source).name}"
        if grade.held_rows:
            source += f" ({grade.held_rows:,} rows graded by held-out predictions)"
        rows.insert(0, _metric_row(source, headline(metrics)))
    parts.append("<h3>Metrics</h3>")
    parts.append(_table(_METRIC_HEADER, rows, {1, 2, 3, 4, 5}) if rows else "<p>No metrics.</p>")
    if not dataset.has_labels:
        parts.append(
            '<p class="note">The data has no labels, so the model is not scored on it.</p>'
        )
    else:
        warn = " warn" if grade.overlap in ("unknown", "file") or metrics is None else ""
        parts.append(f'<p class="note{warn}">{_e(grade.note())}</p>')
    if metrics is not None:
        parts.append("<h3>Per-genre F1 and confusion matrix on the report's data</h3>")
        parts.append(_img(figures.f1_bars(metrics["per_class"], out / "f1_per_genre.png"), "F1"))
        parts.append(_img(figures.confusion(metrics, out / "confusion_matrix.png"), "confusion"))
    return parts + _curves(clf, out)


def _curves(clf: GenreClassifier, out: Path) -> list[str]:
    epochs, best, problem = read_history(clf.path)
    if epochs:
        path = figures.training_curves(epochs, out / "training_curves.png", best)
        return ["<h3>Training curves</h3>", _img(path, "training curves")]
    return [f'<p class="note warn">{_e(problem)}</p>'] if problem else []


def audit_section(result: AuditResult, top: int = 50) -> str:
    """The label audit as HTML: what was flagged, how well planted flips are found, per genre."""
    noise = [
        [g.genre, g.rows, g.flagged, f"{g.flagged_share:.0%}", g.suggested_text()]
        for g in result.genres
    ]
    rows = [
        [i.id, i.title or "", i.given, i.suggested, f"{i.confidence:.2f}", i.snippet]
        for i in result.issues[:top]
    ]
    check = (
        f"<p>{_e(result.planted.summary())}</p>"
        if result.planted is not None
        else "<p>The ranking was not checked on planted flips.</p>"
    )
    return "".join(
        [
            "<h2>Label audit</h2>",
            f"<p>{_e(result.headline())}.</p>",
            check,
            "<p>Flagged rows per given genre, and the genres suggested for them:</p>",
            _table(
                ["genre", "rows", "flagged", "share flagged", "suggested instead"], noise, {1, 2, 3}
            ),
            f"<p>The {len(rows)} most suspicious rows:</p>",
            _table(["id", "title", "given", "suggested", "confidence", "description"], rows, {4}),
        ]
    )


def write_audit_page(result: AuditResult, path: str | os.PathLike[str]) -> Path:
    """The audit section as a self-contained HTML page (``moviegenre audit --out``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>label audit: "
        f"{_e(Path(result.source).name)}</title><style>{_CSS}</style></head><body><main>"
        f"{audit_section(result)}</main></body></html>\n"
    )
    return write_text(out, page)


def build_report(
    dataset: Dataset,
    out_dir: str | os.PathLike[str],
    classifier: GenreClassifier | None = None,
    settings: ReportSettings = ReportSettings(),
    *,
    audit: AuditResult | None = None,
) -> Path:
    """Write the PNG figures, summary.json and a self-contained index.html; return its path.

    ``audit`` (from ``moviegenre.audit.audit``) adds a label-audit section.
    """
    if not len(dataset):
        raise DataError(f"{dataset.source}: no rows to report on")
    out = _out_dir(out_dir)
    start = time.perf_counter()
    total = 3 + (classifier is not None)  # steps announced to moviegenre.progress.report
    report("summary", 0, total)
    summary = summarize(dataset, settings)
    report("data figures", 1, total)
    parts = _data_sections(dataset, out, settings, summary)
    report("characteristic words", 2, total)
    parts += _terms_section(dataset, out, settings)
    if classifier is not None:
        report(f"scoring {classifier.name}", 3, total)
        parts += _model_sections(dataset, classifier, out, settings)
    report("done", total, total)
    if audit is not None:
        parts.append(audit_section(audit))
    seconds = time.perf_counter() - start
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>moviegenre report: "
        f"{_e(Path(dataset.source).name)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Data report: {_e(Path(dataset.source).name)}</h1>"
        f'<p class="meta">{_e(dataset.source)} &middot; built in {seconds:.1f} s by '
        f"moviegenre report</p>{''.join(parts)}</main></body></html>\n"
    )
    return write_text(out / "index.html", page)


__all__ = [
    "ModelGrade",
    "ReportSettings",
    "build_report",
    "genre_counts",
    "genre_terms",
    "model_scores",
    "read_history",
    "summarize",
]
