"""The report's HTML pieces: style, escaping, tables, inline PNGs, the model card, the summary
and metric rows, and the label-audit section and page. Every value is escaped; nothing on a
page makes the browser fetch anything.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from moviegenre._util import write_text
from moviegenre.audit import AuditResult
from moviegenre.classifier import GenreClassifier

# -- HTML ------------------------------------------------------------------------------------

CSS = """
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


def esc(value: Any) -> str:
    return html.escape(str(value))


def html_table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    def cells(tag: str, values: list[Any]) -> str:
        return "".join(
            f"<{tag}{' class=n' if i in numeric else ''}>{esc(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def html_img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def markdown(text: str) -> str:
    """A model card (a file beside an untrusted model) as HTML: raw HTML is shown as text and
    images as links, so opening the report never makes the browser fetch anything."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return f"<pre>{esc(text)}</pre>"
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image").render(text)


def summary_rows(s: dict[str, Any]) -> list[list[Any]]:
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


def metric_row(source: str, m: dict[str, Any]) -> list[Any]:
    keys = ("accuracy", "macro_f1", "weighted_f1", "top3_accuracy")
    values = [f"{m[k]:.3f}" if isinstance(m.get(k), int | float) else "-" for k in keys]
    return [source, f"{m['rows']:,}" if isinstance(m.get("rows"), int) else "-", *values]


def recorded_metrics(classifier: GenreClassifier) -> list[list[Any]]:
    rows = []
    for name, value in classifier.metrics.items():
        if isinstance(value, dict) and any(isinstance(v, int | float) for v in value.values()):
            where = f" ({Path(value['data']).name})" if isinstance(value.get("data"), str) else ""
            rows.append(metric_row(f"recorded in model.json: {name}{where}", value))
    return rows


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
        f"<p>{esc(result.planted.summary())}</p>"
        if result.planted is not None
        else "<p>The ranking was not checked on planted flips.</p>"
    )
    return "".join(
        [
            "<h2>Label audit</h2>",
            f"<p>{esc(result.headline())}.</p>",
            check,
            "<p>Flagged rows per given genre, and the genres suggested for them:</p>",
            html_table(
                ["genre", "rows", "flagged", "share flagged", "suggested instead"], noise, {1, 2, 3}
            ),
            f"<p>The {len(rows)} most suspicious rows:</p>",
            html_table(
                ["id", "title", "given", "suggested", "confidence", "description"], rows, {4}
            ),
        ]
    )


def write_audit_page(result: AuditResult, path: str | os.PathLike[str]) -> Path:
    """The audit section as a self-contained HTML page (``moviegenre audit --out``)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>label audit: "
        f"{esc(Path(result.source).name)}</title><style>{CSS}</style></head><body><main>"
        f"{audit_section(result)}</main></body></html>\n"
    )
    return write_text(out, page)
