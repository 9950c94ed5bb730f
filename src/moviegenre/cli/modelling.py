"""Commands that make, measure or manage a model: train, evaluate, calibrate, models, export."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from moviegenre._util import writing
from moviegenre.cli._base import (
    BatchSize,
    KindOpt,
    LabelCol,
    LabelSep,
    ModelOpt,
    RandomStateOpt,
    Strict,
    TextCol,
    app,
    console,
    data_options,
    kind_not_model,
    library_progress,
    load_data,
    progress_bar,
)
from moviegenre.cli.tables import (
    metrics_table,
    models_table,
    per_class_table,
    validation_title,
)
from moviegenre.errors import ConfigError


@app.command()
def train(
    data: Annotated[
        list[Path],
        typer.Option(help="Labelled training file (IMDb txt, CSV, ...); repeat for several."),
    ],
    out: Annotated[Path, typer.Option(help="New directory to write the model to.")],
    kind: KindOpt = "linear",
    val_fraction: Annotated[
        float | None,
        typer.Option(
            help="Share of rows held out (default: the kind's own: 0.2 for a searched grid, "
            "the blends' and finetune's val_fraction). linear holds rows out by folds "
            "and refuses it."
        ),
    ] = None,
    random_state: RandomStateOpt = 0,
    name: Annotated[str, typer.Option(help="Name recorded in model.json.")] = "moviegenre",
    param: Annotated[
        list[str] | None,
        typer.Option(help="Fixed model parameter KEY=JSON_VALUE (repeatable), e.g. C=0.3."),
    ] = None,
    device: Annotated[
        str, typer.Option(help="Where fine-tuning runs: auto (a GPU if torch sees one), cpu, cuda.")
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option(help="Replace the model already in --out (nothing else is replaced).")
    ] = False,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    label_sep: LabelSep = None,
    strict: Strict = False,
    _model: Annotated[str | None, kind_not_model("train")] = None,
) -> None:
    """Train a model, choosing its settings on held-out rows, and save it."""
    from moviegenre.serialization import ModelDir
    from moviegenre.training import TrainSettings
    from moviegenre.training import train as train_model

    ModelDir(out).check_writable(overwrite=overwrite)  # before the fit, which may take minutes
    params = parse_params(param or [])
    dataset = load_data(
        data, text_col=text_col, label_col=label_col, label_sep=label_sep, strict=strict
    )
    command = ["moviegenre", "train", *(a for p in data for a in ("--data", str(p)))]
    command += ["--out", str(out), "--kind", kind]
    command += [] if val_fraction is None else ["--val-fraction", str(val_fraction)]
    command += ["--random-state", str(random_state), "--name", name, "--device", device]
    command += [a for item in param or [] for a in ("--param", item)]
    command += [a for opt, v in (("--text-col", text_col), ("--label-col", label_col)) if v
                for a in (opt, str(v))]  # fmt: skip
    command += data_options(label_sep, strict)
    settings = TrainSettings(
        kind=kind,
        params=params,
        val_fraction=val_fraction,
        random_state=random_state,
        name=name,
        device=device,
        command=shlex.join(command),
    )
    with library_progress(f"training {kind}", _print_scores) as show:
        result = train_model(dataset, settings, progress=show)
    with writing(out, "--out"):  # staged: a full disk leaves neither a half model nor a temp
        path = result.classifier.save(out, overwrite=overwrite)
    title = validation_title(result.classifier.info.training, result.seconds)
    console.print(metrics_table(title, result.validation))
    console.print(f"best settings: {escape(json.dumps(result.best_params))}")
    multi = result.classifier.info.training.get("multi_label")
    if multi:
        console.print(escape(f"multi-label: {multi['thresholds']}"))
    card = result.classifier.card_path
    console.print(
        f"model written to [bold]{escape(str(path))}[/bold]"
        + (f" (model card: {escape(str(card))})" if card is not None else ""),
        highlight=False,
    )


def _print_scores(bar: Any, message: str) -> None:
    if ": validation" in message or ": held-out" in message:
        bar.console.print(escape(message))


def parse_params(items: list[str]) -> dict[str, Any]:
    """``--param KEY=VALUE`` items as a dict; a VALUE that is not JSON stays a string."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r} must look like KEY=VALUE, e.g. C=0.3")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def writable_model_dir(classifier: Any, option: str) -> Path:
    """The directory ``option`` will write into; never a bundled model inside the package."""
    from moviegenre.classifier import PRETRAINED_DIR

    path = classifier.path
    if path is None or path.resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        name = path.name if path is not None else "NAME"
        raise ConfigError(
            f"{option} writes into the model's model.json, and {classifier.name!r} is a bundled "
            f"model inside the installed package; write your own copy with `moviegenre export "
            f"{name} DIR` and pass --model DIR"
        )
    return path


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled file to score.")],
    model: ModelOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write metrics.json and confusion_matrix.png here.")
    ] = None,
    batch_size: BatchSize = 256,
    record_as: Annotated[
        str | None,
        typer.Option(help="Also store the headline metrics in model.json (not a bundled one)."),
    ] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    label_sep: LabelSep = None,
    strict: Strict = False,
) -> None:
    """Print accuracy, macro-F1, weighted-F1, top-3 accuracy and a per-genre table.

    On several genres per film: micro-, macro-, samples-F1, Jaccard, Hamming loss and
    hit@1/hit@3 (a single-label model: hit@k only).
    """
    from moviegenre.classifier import GenreClassifier
    from moviegenre.evaluate import evaluate as run_evaluation
    from moviegenre.evaluate import write_report
    from moviegenre.metrics import headline
    from moviegenre.serialization import ModelDir

    classifier = GenreClassifier.load(model)
    record_dir = writable_model_dir(classifier, "--record-as") if record_as else None
    dataset = load_data(
        data, text_col=text_col, label_col=label_col, label_sep=label_sep, strict=strict
    )
    with progress_bar("scoring", len(dataset)) as bar:
        metrics = run_evaluation(
            classifier,
            dataset,
            batch_size=batch_size,
            progress=lambda done, _total: bar.update(bar.task_ids[0], completed=done),
        )
    title = f"{classifier.name} ({classifier.kind}) on {data}"  # tables escape titles
    console.print(metrics_table(title, metrics))
    if "per_class" in metrics:
        console.print(per_class_table(metrics))
    if "note" in metrics:
        console.print(escape(metrics["note"]))
    if out is not None:
        with writing(out, "--out"):
            written = write_report(metrics, out)
        for path in written:
            console.print(f"wrote {escape(str(path))}")
    if record_as and record_dir is not None:
        target = ModelDir(record_dir)
        with writing(target.metadata_path, "--model (a copy of the model)"):
            target.record_metrics(record_as, {"data": str(data), **headline(metrics)})
        console.print(escape(f"recorded as {record_as!r} in {target.metadata_path}"))


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the bundled models: kind, size, speed and scores.

    Scores are the model's recipe trained on the shared training file and scored on the shared
    test file (the bundled models themselves are trained on both); speed is on 2 CPU cores.
    """
    from moviegenre.classifier import bundled_models

    rows = bundled_models()
    if as_json:  # plain JSON on stdout, whatever the terminal (no colour codes, no wrapping)
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.print(models_table(rows))
        for card in sorted({row["card"] for row in rows if row["card"]}):
            console.print(f"model card: {escape(card)}", highlight=False, soft_wrap=True)


@app.command()
def calibrate(
    data: Annotated[
        Path, typer.Option(help="Labelled rows the model did NOT train on (held out).")
    ],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model directory to update.")],
    method: Annotated[str, typer.Option(help="Conformity score: 'aps' or 'raps'.")] = "aps",
    batch_size: BatchSize = 256,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    label_sep: LabelSep = None,
    strict: Strict = False,
) -> None:
    """Store conformity scores in a model so that it gives genre sets (predict --coverage)."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.evaluate import calibrate as run_calibration
    from moviegenre.serialization import ModelDir

    classifier = GenreClassifier.load(model)
    folder = ModelDir(writable_model_dir(classifier, "calibrate"))
    dataset = load_data(
        data, text_col=text_col, label_col=label_col, label_sep=label_sep, strict=strict
    )
    scores = run_calibration(classifier, dataset, method=method, batch_size=batch_size)
    with writing(folder.metadata_path, "--model (a copy of the model)"):
        folder.record_conformal(scores)
    console.print(
        f"stored {len(scores)} {escape(method.upper())} conformity scores from "
        f"{escape(str(data))} in [bold]{escape(str(folder.metadata_path))}[/bold]"
    )


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Bundled model name (linear, blend) or folder.")],
    out: Annotated[Path, typer.Argument(help="New directory for the self-contained copy.")],
    overwrite: Annotated[
        bool, typer.Option(help="Replace the model already in OUT (nothing else is replaced).")
    ] = False,
) -> None:
    """Write a self-contained copy of a model (e.g. a bundled one) that you can calibrate."""
    from moviegenre.classifier import export_model

    path = export_model(model, out, overwrite=overwrite)
    console.print(
        f"wrote a self-contained copy of {escape(model)!r} to [bold]{escape(str(path))}[/bold] "
        f"(calibrate or evaluate --record-as it with --model {escape(str(path))})",
        highlight=False,
    )
