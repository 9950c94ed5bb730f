"""The report (``moviegenre report``): draws the figures, writes summary.json and one
self-contained index.html from the numbers of :mod:`~moviegenre.report.summary`, the figures of
:mod:`~moviegenre.report.figures` and the pieces of :mod:`~moviegenre.report.html`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import moviegenre.report.figures as figures
from moviegenre._util import write_text
from moviegenre.audit import AuditResult
from moviegenre.checks import word_count
from moviegenre.classifier import GenreClassifier
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError, DataError
from moviegenre.metrics import headline
from moviegenre.progress import report
from moviegenre.report.grading import model_scores
from moviegenre.report.html import (
    CSS,
    audit_section,
    esc,
    html_img,
    html_table,
    markdown,
    metric_row,
    recorded_metrics,
    summary_rows,
)
from moviegenre.report.summary import (
    ALL_ROWS,
    MODEL_CARD,
    ReportSettings,
    cooccurring_pairs,
    genre_counts,
    genre_terms,
    read_history,
    summarize,
)

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
        html_table(["", "value", "share"], summary_rows(summary), {1, 2}),
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
        parts.append(html_img(path, "genres"))
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
        parts.append(html_img(path, "release years"))
    words = [word_count(t) for t in dataset.texts]
    path = figures.histogram(
        words, out / "description_lengths.png", title="Description length", xlabel="words"
    )
    parts.append(html_img(path, "description lengths") + "</div>")
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
        html_table(["genres in the row", "rows", "share"], sizes, {0, 1, 2}),
        "<h3>Genres that come together most often</h3>",
        html_table(
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
        html_img(
            figures.cooccurrence(names, matrix, out / "genre_cooccurrence.png"), "co-occurrence"
        ),
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
            html_img(
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
    parts.append(html_table(["genre", "rows", "terms"], table, {1}))
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
        f"<h2>5. Model: {esc(clf.name)} ({esc(clf.kind)})</h2>",
        f'<p class="meta">{esc(clf.path)}</p>',
    ]
    card = clf.card_path
    if card is not None:
        parts.append(f'<div class="card">{markdown(card.read_text(encoding="utf-8"))}</div>')
    else:
        parts.append(f'<p class="note">No {MODEL_CARD} next to the model.</p>')
    rows = recorded_metrics(clf)
    if dataset.multi_label:  # genre sets are scored by `moviegenre evaluate`, not here
        parts.append("<h3>Metrics</h3>")
        parts.append(
            html_table(_METRIC_HEADER, rows, {1, 2, 3, 4, 5}) if rows else "<p>No metrics.</p>"
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
        rows.insert(0, metric_row(source, headline(metrics)))
    parts.append("<h3>Metrics</h3>")
    parts.append(
        html_table(_METRIC_HEADER, rows, {1, 2, 3, 4, 5}) if rows else "<p>No metrics.</p>"
    )
    if not dataset.has_labels:
        parts.append(
            '<p class="note">The data has no labels, so the model is not scored on it.</p>'
        )
    else:
        warn = " warn" if grade.overlap in ("unknown", "file") or metrics is None else ""
        parts.append(f'<p class="note{warn}">{esc(grade.note())}</p>')
    if metrics is not None:
        parts.append("<h3>Per-genre F1 and confusion matrix on the report's data</h3>")
        parts.append(
            html_img(figures.f1_bars(metrics["per_class"], out / "f1_per_genre.png"), "F1")
        )
        parts.append(
            html_img(figures.confusion(metrics, out / "confusion_matrix.png"), "confusion")
        )
    return parts + _curves(clf, out)


def _curves(clf: GenreClassifier, out: Path) -> list[str]:
    epochs, best, problem = read_history(clf.path)
    if epochs:
        path = figures.training_curves(epochs, out / "training_curves.png", best)
        return ["<h3>Training curves</h3>", html_img(path, "training curves")]
    return [f'<p class="note warn">{esc(problem)}</p>'] if problem else []


def build_report(
    dataset: Dataset,
    out_dir: str | os.PathLike[str],
    classifier: GenreClassifier | None = None,
    settings: ReportSettings = ReportSettings(),  # noqa: B008 (frozen, so shared safely)
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
        f"{esc(Path(dataset.source).name)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>Data report: {esc(Path(dataset.source).name)}</h1>"
        f'<p class="meta">{esc(dataset.source)} &middot; built in {seconds:.1f} s by '
        f"moviegenre report</p>{''.join(parts)}</main></body></html>\n"
    )
    return write_text(out / "index.html", page)
