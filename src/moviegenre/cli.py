"""The ``moviegenre`` command: a thin shell over the library, one function per command.

Every MovieGenreError is printed as one line on stderr (no traceback) with exit code 2.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from moviegenre.errors import ConfigError, MovieGenreError

app = typer.Typer(
    name="moviegenre",
    help="Classify English movie descriptions into genres, with probabilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Model directory or bundled model name (default: $MOVIEGENRE_MODEL, else bundled).",
    ),
]
TextCol = Annotated[str | None, typer.Option(help="Text column of a CSV/JSONL/Parquet file.")]
LabelCol = Annotated[str | None, typer.Option(help="Label column of a CSV/JSONL/Parquet file.")]
IdCol = Annotated[str | None, typer.Option(help="Id column (default: 'id', else row numbers).")]


def _progress_bar():
    """Progress on stderr that disappears when done, so stdout keeps only the results."""
    from moviegenre.progress import progress_bar

    return progress_bar(console=err_console, transient=True)


def _metrics_table(title: str, metrics: dict) -> Table:
    table = Table(title=title)
    for column in ("rows", "accuracy", "macro-F1", "weighted-F1", "top-3 accuracy"):
        table.add_column(column, justify="right")
    table.add_row(
        str(metrics["rows"]),
        f"{metrics['accuracy']:.3f}",
        f"{metrics['macro_f1']:.3f}",
        f"{metrics['weighted_f1']:.3f}",
        f"{metrics['top3_accuracy']:.3f}",
    )
    return table


def _per_class_table(metrics: dict) -> Table:
    table = Table(title="Per genre")
    for column in ("genre", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    for genre, row in metrics["per_class"].items():
        if row["support"] or row["precision"]:
            table.add_row(
                genre,
                f"{row['precision']:.3f}",
                f"{row['recall']:.3f}",
                f"{row['f1']:.3f}",
                str(row["support"]),
            )
    return table


@app.command()
def train(
    data: Annotated[
        list[Path],
        typer.Option(help="Labelled training file (IMDb txt, CSV, ...); repeat for several."),
    ],
    out: Annotated[Path, typer.Option(help="Directory to write the model to.")],
    model: Annotated[str, typer.Option("--model", help="Model kind, e.g. linear.")] = "linear",
    val_fraction: Annotated[float, typer.Option(help="Share of rows held out.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed for the split and the model.")] = 0,
    name: Annotated[str, typer.Option(help="Name recorded in model.json.")] = "moviegenre",
    param: Annotated[
        list[str] | None,
        typer.Option(help="Fixed model parameter KEY=JSON_VALUE (repeatable), e.g. C=0.3."),
    ] = None,
    device: Annotated[
        str, typer.Option(help="Where fine-tuning runs: auto (a GPU if torch sees one), cpu, cuda.")
    ] = "auto",
    text_col: TextCol = None,
    label_col: LabelCol = None,
) -> None:
    """Train a model, choosing its settings on held-out rows, and save it."""
    from moviegenre.data import load_dataset
    from moviegenre.training import TrainSettings
    from moviegenre.training import train as train_model

    params = _parse_params(param or [])
    dataset = load_dataset(data, text_col=text_col, label_col=label_col, require_labels=True)
    settings = TrainSettings(
        kind=model,
        params=params,
        val_fraction=val_fraction,
        random_state=seed,
        name=name,
        device=device,
    )
    with _progress_bar() as bar:
        task = bar.add_task(f"training {model}", total=None, rate="")

        def show(message: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=message[:60])
            if ": validation" in message or ": held-out" in message:
                bar.console.print(message)

        result = train_model(dataset, settings, progress=show)
    path = result.classifier.save(out)
    how = result.classifier.info.training
    title = "Validation"
    if how.get("validation") == "out-of-fold":
        title += f" ({how['folds']}-fold, every row held out once)"
    elif how.get("validation") == "holdout":
        title += f" ({how['val_fraction']:.0%} of the rows held out)"
    console.print(_metrics_table(f"{title}, trained in {result.seconds:.1f} s", result.validation))
    console.print(f"best settings: {json.dumps(result.best_params)}")
    console.print(f"model written to [bold]{path}[/bold]")


def _parse_params(items: list[str]) -> dict:
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


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Labelled file to score.")],
    model: ModelOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write metrics.json and confusion_matrix.png here.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per model call.")] = 256,
    record_as: Annotated[
        str | None,
        typer.Option(help="Also store the headline metrics in model.json under this name."),
    ] = None,
    text_col: TextCol = None,
    label_col: LabelCol = None,
) -> None:
    """Print accuracy, macro-F1, weighted-F1, top-3 accuracy and a per-genre table."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.data import load_dataset
    from moviegenre.evaluate import evaluate as run_evaluation
    from moviegenre.evaluate import write_report

    classifier = GenreClassifier.load(model)
    dataset = load_dataset(data, text_col=text_col, label_col=label_col, require_labels=True)
    with _progress_bar() as bar:
        task = bar.add_task("scoring", total=len(dataset), rate="")
        metrics = run_evaluation(
            classifier,
            dataset,
            batch_size=batch_size,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    title = escape(f"{classifier.name} ({classifier.kind}) on {data}")
    console.print(_metrics_table(title, metrics))
    console.print(_per_class_table(metrics))
    if out is not None:
        for path in write_report(metrics, out):
            console.print(f"wrote {path}")
    if record_as:
        from moviegenre.metrics import headline
        from moviegenre.modelio import record_metrics

        record_metrics(classifier.path, record_as, {"data": str(data), **headline(metrics)})
        console.print(f"recorded as {record_as!r} in {classifier.path / 'model.json'}")


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
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="Bundled models (load by name: --model NAME)")
    for column in ("name", "kind", "MB", "accuracy", "macro-F1", "desc/s", "first answer s"):
        table.add_column(column, justify="left" if column in ("name", "kind") else "right")
    for row in rows:
        bench, speed = row["benchmark"], row["speed"]
        table.add_row(
            row["name"] + (" (default)" if row["default"] else ""),
            row["kind"],
            f"{row['megabytes']:.1f}",
            f"{bench['accuracy']:.3f}" if "accuracy" in bench else "-",
            f"{bench['macro_f1']:.3f}" if "macro_f1" in bench else "-",
            f"{speed['per_second']:,.0f}" if "per_second" in speed else "-",
            f"{speed['first_prediction_s']:.1f}" if "first_prediction_s" in speed else "-",
        )
    console.print(table)


@app.command()
def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Descriptions to classify.")] = None,
    model: ModelOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Genres per text.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    examples: Annotated[bool, typer.Option(help="Classify the bundled sample texts.")] = False,
    no_checks: Annotated[
        bool, typer.Option("--no-checks", help="Skip the 20-word and English-only checks.")
    ] = False,
    input: Annotated[Path | None, typer.Option(help="File of descriptions to score.")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write scores: *.csv or *.parquet.")
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="Output layout: 'wide' (top-k columns + error) or 'kaggle' (exactly id,genre; "
            "every row is scored: the 20-word/English checks are skipped)."
        ),
    ] = "wide",
    batch_size: Annotated[int, typer.Option(help="Texts per model call.")] = 256,
    text_col: TextCol = None,
    id_col: IdCol = None,
    engine: Annotated[
        str, typer.Option(help="File scoring engine: 'local' or 'ray' (RAY_ADDRESS or local).")
    ] = "local",
    overwrite: Annotated[
        bool, typer.Option(help="Start a file run fresh, replacing output and unfinished parts.")
    ] = False,
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (and per resumable part).")] = (
        10_000
    ),
    workers: Annotated[int, typer.Option(help="Local scoring processes for a file.")] = 1,
    coverage: Annotated[
        float | None,
        typer.Option(help="Also give each text's genre set holding the true genre at this rate."),
    ] = None,
) -> None:
    """Classify texts given on the command line, or a whole file with --input/--output."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.examples import EXAMPLES

    classifier = GenreClassifier.load(model)
    if input is not None or output is not None:
        file_options = {"format": format, "top_k": top_k, "batch_size": batch_size}
        file_options |= {
            "text_col": text_col,
            "id_col": id_col,
            "check": _file_checks(no_checks, format),
        }
        file_options |= {"engine": engine, "overwrite": overwrite, "chunk_rows": chunk_rows}
        file_options |= {"workers": workers, "coverage": coverage}
        _predict_file(classifier, input, output, **file_options)
        return
    items = [_utf8_argument(text, n) for n, text in enumerate(texts or [], 1)]
    if examples:
        items += list(EXAMPLES.values())
    if not items:
        raise ConfigError("give descriptions to classify, --examples, or --input FILE")
    results = classifier.classify(
        items, top_k=top_k, batch_size=batch_size, check=not no_checks, coverage=coverage
    )
    if as_json:
        payload = [{"text": t, **r.to_dict()} for t, r in zip(items, results, strict=True)]
        typer.echo(json.dumps(payload, indent=2))
    else:
        for text, result in zip(items, results, strict=True):
            head = text if len(text) <= 70 else text[:67] + "..."
            console.print(f"[bold]{head}[/bold]")
            if result.ok:
                for genre, prob in result.genres:
                    console.print(f"  {genre:<12} {prob:6.1%}")
                if result.genre_set is not None:
                    listed = ", ".join(g for g, _ in result.genre_set)
                    console.print(f"  set at {coverage:.0%} coverage: {listed}")
            else:
                console.print(f"  [red]refused:[/red] {result.error}")
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


def _utf8_argument(text: str, number: int) -> str:
    """A command-line text, refused in one line if it holds bytes that are not UTF-8.

    Python keeps such bytes as lone surrogates, which no tokenizer or console can encode.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = ord(text[exc.start]) - 0xDC00
        shown = f"byte 0x{byte:02x}" if 0x80 <= byte <= 0xFF else "a lone surrogate"
        raise ConfigError(
            f"description {number} is not valid UTF-8 ({shown} at character {exc.start + 1}); "
            "pass UTF-8 text"
        ) from None
    return text


def _file_checks(no_checks: bool, format: str) -> bool:
    """Kaggle submissions need a genre on every row, so short texts are scored, not refused."""
    return not no_checks and format != "kaggle"


def _predict_file(
    classifier, input, output, *, format, engine, overwrite, workers, **options
) -> None:  # options: BatchSettings fields
    """Stream a file through batch.score_file (resumable; see README "Batch scoring")."""
    from moviegenre.batch import BatchSettings, score_file

    if input is None or output is None:
        raise ConfigError("--input and --output go together")
    settings = BatchSettings(output_format=format, **options)
    try:
        summary = score_file(
            classifier,
            input,
            output,
            settings,
            engine=engine,
            overwrite=overwrite,
            show_progress=True,
            workers=workers,
        )
    except KeyboardInterrupt:
        err_console.print(f"interrupted: run the same command again to resume into {output}")
        raise
    resumed = f", {summary.resumed_rows} from an earlier run" if summary.resumed_rows else ""
    console.print(
        f"scored {summary.rows} rows ({summary.errors} refused{resumed}) into [bold]{output}[/bold]"
    )


@app.command()
def calibrate(
    data: Annotated[
        Path, typer.Option(help="Labelled rows the model did NOT train on (held out).")
    ],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model directory to update.")],
    method: Annotated[str, typer.Option(help="Conformity score: 'aps' or 'raps'.")] = "aps",
    batch_size: Annotated[int, typer.Option(help="Texts per model call.")] = 256,
    text_col: TextCol = None,
    label_col: LabelCol = None,
) -> None:
    """Store conformity scores in a model so that it gives genre sets (predict --coverage)."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.data import load_dataset
    from moviegenre.evaluate import calibrate as run_calibration
    from moviegenre.modelio import record_conformal

    classifier = GenreClassifier.load(model)
    dataset = load_dataset(data, text_col=text_col, label_col=label_col, require_labels=True)
    scores = run_calibration(classifier, dataset, method=method, batch_size=batch_size)
    record_conformal(model, scores)
    console.print(
        f"stored {len(scores)} {method.upper()} conformity scores from {data} in "
        f"[bold]{model / 'model.json'}[/bold]"
    )


@app.command()
def audit(
    data: Annotated[Path, typer.Option(help="Labelled file whose labels to check.")],
    model: Annotated[
        str, typer.Option("--model", help="Model kind for out-of-fold probabilities.")
    ] = "linear",
    top: Annotated[int, typer.Option(help="Flagged rows to print.")] = 20,
    out: Annotated[
        Path | None,
        typer.Option(help="Write label_issues.csv, noise_by_genre.csv and audit.html here."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Fold seed.")] = 0,
    text_col: TextCol = None,
    label_col: LabelCol = None,
) -> None:
    """List rows whose given genre is probably wrong (confident learning), and noisy genres."""
    from moviegenre.audit import audit as run_audit
    from moviegenre.data import load_dataset

    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    dataset = load_dataset(data, text_col=text_col, label_col=label_col, require_labels=True)
    with console.status(f"out-of-fold {model} predictions on {len(dataset)} rows..."):
        result = run_audit(dataset, model, folds=folds, random_state=seed)
    table = Table(title=f"{len(result.issues)} of {result.rows} labels look wrong ({model})")
    for column in ("id", "title", "given", "suggested", "confidence", "description"):
        table.add_column(column, justify="right" if column == "confidence" else "left")
    for issue in result.issues[:top]:
        table.add_row(
            escape(issue.id),
            escape(issue.title or ""),
            issue.given,
            issue.suggested,
            f"{issue.confidence:.2f}",
            escape(issue.snippet[:70]),
        )
    console.print(table)
    noise = Table(title="Estimated label noise per genre")
    for column in ("genre", "rows", "flagged", "noise rate", "confused with"):
        noise.add_column(
            column, justify="left" if column in ("genre", "confused with") else "right"
        )
    for g in result.genres:
        pairs = ", ".join(f"{name} ({n})" for name, n in g.confused_with)
        noise.add_row(g.genre, str(g.rows), str(g.flagged), f"{g.noise_rate:.0%}", pairs)
    console.print(noise)
    if out is not None:
        from moviegenre.report import write_audit_page

        for path in [*result.write(out), write_audit_page(result, out / "audit.html")]:
            console.print(f"wrote {path}")


@app.command()
def baselines(
    data: Annotated[Path, typer.Option(help="Labelled training file.")],
    test: Annotated[
        Path | None,
        typer.Option(help="Labelled file to score on (default: a validation split of --data)."),
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Held-out share without --test.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
) -> None:
    """Compare the seed's TF-IDF baselines with our linear model, in one table."""
    from moviegenre.baselines import run_baselines
    from moviegenre.data import load_dataset
    from moviegenre.split import stratified_split

    dataset = load_dataset(data, require_labels=True)
    if test is None:
        train_idx, val_idx = stratified_split(
            dataset.labels or [], val_fraction=val_fraction, random_state=seed
        )
        train_set, test_set = dataset.subset(train_idx), dataset.subset(val_idx)
        where = f"validation split ({len(test_set)} rows)"
    else:
        train_set, test_set = dataset, load_dataset(test, require_labels=True)
        where = str(test)
    with console.status("training baselines..."):
        rows = run_baselines(train_set, test_set)
    table = Table(title=f"Trained on {len(train_set)} rows, scored on {where}")
    for column in ("model", "accuracy", "macro-F1", "top-3", "train s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(
            row["model"],
            f"{row['accuracy']:.3f}",
            f"{row['macro_f1']:.3f}",
            f"{row['top3_accuracy']:.3f}",
            f"{row['train_seconds']:.2f}",
        )
    console.print(table)


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
) -> None:
    """Write a data (and model) report: PNG figures and one self-contained index.html."""
    from moviegenre.classifier import GenreClassifier
    from moviegenre.data import load_dataset
    from moviegenre.report import build_report

    classifier = GenreClassifier.load(model) if model is not None else None
    dataset = load_dataset(data, text_col=text_col, label_col=label_col)
    audited = None
    if audit:
        from moviegenre.audit import audit as run_audit

        if not dataset.has_labels:
            raise ConfigError(f"{data} has no genre labels; --audit needs labelled rows")
        with console.status(f"auditing the labels of {len(dataset)} rows..."):
            audited = run_audit(dataset)
    with console.status(f"building the report on {len(dataset)} rows..."):
        index = build_report(dataset, out, classifier, audit=audited)
    console.print(f"report written to [bold]{index}[/bold]")


def _require(extra: str, *modules: str) -> None:
    import importlib.util

    from moviegenre.errors import MissingDependencyError

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"{', '.join(missing)} not installed; run: pip install 'moviegenre[{extra}]'"
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    model: ModelOpt = None,
    max_texts: Annotated[int, typer.Option(help="Texts per request at most.")] = 64,
    max_chars: Annotated[int, typer.Option(help="Characters per text at most.")] = 5_000,
    max_body_bytes: Annotated[int, typer.Option(help="Request body bytes at most.")] = 2_000_000,
    workers: Annotated[int, typer.Option(help="Threads that run the model.")] = 2,
    timeout_keep_alive: Annotated[
        float, typer.Option(help="Seconds an idle keep-alive connection stays open.")
    ] = 5.0,
    timeout_request: Annotated[
        float,
        typer.Option(help="Seconds a client has to send a whole request, else it is dropped."),
    ] = 30.0,
    limit_concurrency: Annotated[
        int, typer.Option(help="Connections plus running requests at most (then 503).")
    ] = 256,
) -> None:
    """Run the HTTP API (FastAPI + uvicorn); docs at http://HOST:PORT/docs."""
    _require("serve", "fastapi", "uvicorn")
    from moviegenre.api import ApiSettings
    from moviegenre.api import serve as run_server

    settings = ApiSettings(
        max_texts,
        max_chars,
        max_body_bytes,
        workers,
        timeout_keep_alive=timeout_keep_alive,
        timeout_request=timeout_request,
        limit_concurrency=limit_concurrency,
    )
    err_console.print(f"serving on http://{host}:{port} (docs at /docs); Ctrl+C stops")
    run_server(host, port, str(model) if model else None, settings)


@app.command(name="app")
def web_app(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8501,
    model: ModelOpt = None,
) -> None:
    """Run the web page (Streamlit) in the foreground; it stops when this command stops."""
    import os
    import subprocess
    from functools import partial

    from moviegenre._util import die_with_parent

    _require("app", "streamlit")
    page = Path(__file__).with_name("app.py")
    env = dict(os.environ, **({"MOVIEGENRE_MODEL": str(model.resolve())} if model else {}))
    command = [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port)]
    command += ["--server.address", host, "--server.headless", "true"]
    command += ["--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]
    # Ctrl-C or SIGTERM here kills Streamlit (subprocess.call); a SIGKILL, the parent-death signal.
    stop_with_us = partial(die_with_parent, os.getpid())
    raise typer.Exit(subprocess.call(command, env=env, preexec_fn=stop_with_us))


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(
        f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning our errors into one readable line.

    SIGTERM is handled like Ctrl-C, so worker processes and servers are stopped, not orphaned.
    """
    import signal
    import warnings

    warnings.showwarning = _show_warning
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        # standalone mode: click itself prints usage errors and turns typer.Exit into exit codes
        app(args=argv)
    except MovieGenreError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
