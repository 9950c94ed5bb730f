"""Commands that look at a data file: audit, baselines, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from moviegenre._util import writing
from moviegenre.cli._base import (
    KindOpt,
    LabelCol,
    LabelSep,
    RandomStateOpt,
    Strict,
    TextCol,
    app,
    console,
    err_console,
    kind_not_model,
    library_progress,
    load_data,
)
from moviegenre.cli.tables import audit_tables, baselines_table
from moviegenre.errors import ConfigError


@app.command()
def audit(
    data: Annotated[Path, typer.Option(help="Labelled file whose labels to check.")],
    kind: KindOpt = "linear",
    top: Annotated[int, typer.Option(help="Flagged rows to print.")] = 20,
    out: Annotated[
        Path | None,
        typer.Option(help="Write label_issues.csv, noise_by_genre.csv and audit.html here."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    planted: Annotated[
        float,
        typer.Option(
            help="Share of labels to flip at random for the planted-noise check of the "
            "ranking (a second out-of-fold fit); 0 skips it."
        ),
    ] = 0.05,
    random_state: RandomStateOpt = 0,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    label_sep: LabelSep = None,
    strict: Strict = False,
    _model: Annotated[str | None, kind_not_model("audit")] = None,
) -> None:
    """List rows whose given genre another genre explains better (confident learning)."""
    from moviegenre.audit import audit as run_audit

    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    if not 0 <= planted < 1:
        raise ConfigError(f"--planted must be at least 0 and below 1, got {planted}")
    dataset = load_data(
        data, text_col=text_col, label_col=label_col, label_sep=label_sep, strict=strict
    )
    fits = "two out-of-fold fits (the audit, the planted-noise check)" if planted else "one"
    with err_console.status(f"{escape(kind)} on {len(dataset)} rows, {fits}..."):
        result = run_audit(
            dataset, kind, folds=folds, random_state=random_state, planted_share=planted or None
        )
    for table in audit_tables(result, kind, top):
        console.print(table)
    if result.planted is not None:
        console.print(result.planted.summary(), highlight=False)
    if out is not None:
        from moviegenre.report import write_audit_page

        with writing(out, "--out"):
            written = [*result.write(out), write_audit_page(result, out / "audit.html")]
        for path in written:
            console.print(f"wrote {escape(str(path))}")


@app.command()
def baselines(
    data: Annotated[Path, typer.Option(help="Labelled training file.")],
    test: Annotated[
        Path | None,
        typer.Option(help="Labelled file to score on (default: a validation split of --data)."),
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Held-out share without --test.")] = 0.2,
    random_state: RandomStateOpt = 0,
    label_sep: LabelSep = None,
    strict: Strict = False,
) -> None:
    """Compare the seed's TF-IDF baselines with our linear model, in one table."""
    from moviegenre import selection
    from moviegenre.baselines import run_baselines

    dataset = load_data(data, label_sep=label_sep, strict=strict)
    if test is None:  # the hold-out slice of selection.py, as training holds rows out
        labels = dataset.labels or []
        train_idx, val_idx = selection.holdout(
            labels, val_fraction=val_fraction, random_state=random_state
        )
        train_set, test_set = dataset.subset(train_idx), dataset.subset(val_idx)
        where = f"validation split ({len(test_set)} rows)"
    else:
        train_set, test_set = dataset, load_data(test, label_sep=label_sep, strict=strict)
        where = str(test)
    with library_progress("training baselines"):
        rows = run_baselines(train_set, test_set)
    console.print(baselines_table(f"Trained on {len(train_set)} rows, scored on {where}", rows))


@app.command()
def report(
    data: Annotated[Path, typer.Option(help="Data file to describe (labelled or not).")],
    out: Annotated[Path, typer.Option(help="Directory for index.html and the PNG figures.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Also describe and score this model.")
    ] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    audit: Annotated[
        bool, typer.Option("--audit", help="Add a label audit (linear, out-of-fold) section.")
    ] = False,
    label_sep: LabelSep = None,
    strict: Strict = False,
) -> None:
    """Write a data (and model) report: PNG figures and one self-contained index.html."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.report import build_report

    classifier = GenreClassifier.load(model) if model is not None else None
    dataset = load_data(
        data,
        text_col=text_col,
        label_col=label_col,
        label_sep=label_sep,
        strict=strict,
        require_labels=False,
    )
    audited = None
    if audit:
        from moviegenre.audit import audit as run_audit

        if not dataset.has_labels:
            raise ConfigError(f"{data} has no genre labels; --audit needs labelled rows")
        with err_console.status(f"auditing the labels of {len(dataset)} rows..."):
            audited = run_audit(dataset)
    with library_progress(f"report on {len(dataset)} rows"), writing(out, "--out"):
        index = build_report(dataset, out, classifier, audit=audited)
    console.print(f"report written to [bold]{escape(str(index))}[/bold]")
