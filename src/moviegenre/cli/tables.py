"""Rich tables of the library's results (metrics, bundled models, audits, baselines).

Every title and cell goes through Rich's ``escape``: genre names, model names and ids come
from model and data files, and ``[w]`` or ``[red]...`` in one must print as itself, never
as markup that restyles or hides the table.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table


def _table(title: str, columns: tuple[str, ...], left: tuple[str, ...]) -> Table:
    table = Table(title=escape(title))
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    return table


def _row(table: Table, *cells: str) -> None:
    """Add one row of plain-text cells (escaped: see the module docstring)."""
    table.add_row(*(escape(str(cell)) for cell in cells))


#: Multi-label scores (genre sets): (key, column), shown where present.
MULTI_LABEL_COLUMNS = (
    ("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("samples_f1", "samples-F1"),
    ("jaccard", "Jaccard"), ("hamming_loss", "Hamming loss"), ("hit_at_1", "hit@1"),
    ("hit_at_3", "hit@3"),
)  # fmt: skip


def metrics_table(title: str, metrics: dict) -> Table:
    if "accuracy" not in metrics:  # genre sets: the multi-label scores there are
        shown = [(k, c) for k, c in MULTI_LABEL_COLUMNS if k in metrics]
        table = _table(title, ("rows", *(c for _, c in shown)), ())
        _row(table, str(metrics["rows"]), *(f"{metrics[k]:.3f}" for k, _ in shown))
        return table
    columns = ("rows", "accuracy", "macro-F1", "weighted-F1", "top-3 accuracy")
    table = _table(title, columns, ())
    _row(
        table,
        str(metrics["rows"]),
        f"{metrics['accuracy']:.3f}",
        f"{metrics['macro_f1']:.3f}",
        f"{metrics['weighted_f1']:.3f}",
        f"{metrics['top3_accuracy']:.3f}",
    )
    return table


def per_class_table(metrics: dict) -> Table:
    table = _table("Per genre", ("genre", "precision", "recall", "F1", "support"), ("genre",))
    for genre, row in metrics["per_class"].items():
        if row["support"] or row["precision"]:
            _row(
                table,
                genre,
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                str(row["support"]),
            )
    return table


def validation_title(training: dict[str, Any], seconds: float) -> str:
    """How a trained model's validation metrics were measured, for the table's title."""
    title = "Validation"
    if training.get("validation") == "out-of-fold":
        title += f" ({training['folds']}-fold, every row held out once)"
    elif training.get("validation") == "holdout":
        title += f" ({training['val_fraction']:.0%} of the rows held out)"
    return f"{title}, trained in {seconds:.1f} s"


def models_table(rows: list[dict[str, Any]]) -> Table:
    columns = ("name", "kind", "MB", "accuracy", "macro-F1", "desc/s", "first answer s")
    table = _table("Bundled models (load by name: --model NAME)", columns, ("name", "kind"))
    for row in rows:
        bench, speed = row["benchmark"], row["speed"]
        _row(
            table,
            row["name"] + (" (default)" if row["default"] else ""),
            row["kind"],
            f"{row['megabytes']:.1f}",
            f"{bench['accuracy']:.3f}" if "accuracy" in bench else "-",
            f"{bench['macro_f1']:.3f}" if "macro_f1" in bench else "-",
            f"{speed['per_second']:,.0f}" if "per_second" in speed else "-",
            f"{speed['first_prediction_s']:.1f}" if "first_prediction_s" in speed else "-",
        )
    return table


def baselines_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = _table(title, ("model", "accuracy", "macro-F1", "top-3", "train s"), ("model",))
    for row in rows:
        _row(
            table,
            row["model"],
            f"{row['accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            f"{row['top3_accuracy']:.3f}",
            f"{row['train_seconds']:.2f}",
        )
    return table


def audit_tables(result: Any, kind: str, top: int) -> tuple[Table, Table]:
    """The flagged rows (the first ``top``) and the flagged rows per given genre."""
    title = f"{len(result.issues)} of {result.rows} rows: another genre explains the label better"
    columns = ("id", "title", "given", "suggested", "confidence", "description")
    issues = _table(title, columns, tuple(c for c in columns if c != "confidence"))
    issues.caption = escape(result.headline()) + "."
    for issue in result.issues[:top]:
        _row(
            issues,
            issue.id,
            issue.title or "",
            issue.given,
            issue.suggested,
            f"{issue.confidence:.2f}",
            issue.snippet[:70],
        )
    columns = ("genre", "rows", "flagged", "share flagged", "suggested instead (flagged rows)")
    noise = _table("Flagged rows per given genre", columns, ("genre", columns[-1]))
    for g in result.genres:
        _row(
            noise,
            g.genre,
            str(g.rows),
            str(g.flagged),
            f"{g.flagged_share:.0%}",
            g.suggested_text(),
        )
    return issues, noise
