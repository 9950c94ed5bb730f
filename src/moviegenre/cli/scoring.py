"""``predict`` classifies texts given on the command line; ``score`` streams a whole file.

Two verbs, so that each option means one thing: file options (--format, --engine, --workers,
...) exist only on ``score``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from moviegenre._util import plural
from moviegenre.cli._base import (
    BatchSize,
    Coverage,
    IdCol,
    ModelOpt,
    NoChecks,
    Recall,
    TextCol,
    app,
    console,
    err_console,
    refused_option,
)
from moviegenre.errors import ConfigError

TopK = Annotated[int, typer.Option("--top-k", "-k", help="Genres per text.")]
#: Refusals that ``--no-checks`` lifts (the 20-word and English-only rules).
CHECK_CODES = ("too_short", "not_english")
NO_CHECKS_HINT = "refused as too short or not English are scored with --no-checks"


#: What predict says to someone who gives it a file (scoring files moved to ``score``).
FILE_ON_PREDICT = (
    "predict classifies texts; to score a file, run: moviegenre score --input FILE --output OUT.csv"
)


@app.command()
def predict(
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Descriptions to classify; '-' reads them from stdin, one per line."),
    ] = None,
    model: ModelOpt = None,
    top_k: TopK = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    examples: Annotated[bool, typer.Option(help="Classify the bundled sample texts.")] = False,
    no_checks: NoChecks = False,
    batch_size: BatchSize = 256,
    coverage: Coverage = None,
    recall: Recall = None,
    _input: Annotated[str | None, refused_option("--input", FILE_ON_PREDICT)] = None,
    _output: Annotated[str | None, refused_option("--output", FILE_ON_PREDICT)] = None,
) -> None:
    """Classify descriptions given here (or --examples); exit 1 if one is refused.

    ``-`` stands for the lines of stdin, one description per line (as in fastText's
    ``predict MODEL -``); each line gets one result, in order, a blank one a refusal.
    """
    from moviegenre.classifier import GenreClassifier
    from moviegenre.examples import EXAMPLES
    from moviegenre.results import predictions_payload

    texts = texts or []
    if texts.count("-") > 1:
        raise ConfigError("'-' (read descriptions from stdin) may be given only once")
    items: list[str] = []
    for n, text in enumerate(texts, 1):
        items += _stdin_lines() if text == "-" else [_utf8_argument(text, n)]
    items += list(EXAMPLES.values()) if examples else []
    if not items:
        raise ConfigError("give descriptions to classify, or --examples (files: moviegenre score)")
    classifier = GenreClassifier.load(model)
    results = classifier.classify(
        items,
        top_k=top_k,
        batch_size=batch_size,
        check=not no_checks,
        coverage=coverage,
        recall=recall,
    )
    if as_json:  # the API's document for the same request (results in the order of the texts)
        typer.echo(json.dumps(predictions_payload(classifier.name, results), indent=2))
    else:
        for text, result in zip(items, results, strict=True):
            _print_result(text, result, len(classifier.genres))
        _print_set_basis(classifier, results)
    if any(r.code in CHECK_CODES for r in results):
        err_console.print(f"hint: texts {NO_CHECKS_HINT}", highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


def _print_result(text: str, result: Any, n_genres: int) -> None:
    head = text if len(text) <= 70 else text[:67] + "..."
    # texts, genres and messages are plain text: a genre "[w]" from a model file prints as itself
    console.print(f"[bold]{escape(head)}[/bold]")
    if not result.ok:
        console.print(f"  [red]refused:[/red] {escape(str(result.error))}")
        return
    for genre, prob in result.genres:
        console.print(f"  {escape(f'{genre:<12}')} {prob:6.1%}")
    if result.labels is not None:  # a multi-label model: the genres it assigns
        console.print(f"  genres: {escape(', '.join(g for g, _ in result.labels))}")
    if result.genre_set is not None and result.recall is not None:
        listed = ", ".join(g for g, _ in result.genre_set)
        size = f"{len(result.genre_set)} of {n_genres} genres"
        console.print(f"  set at {result.recall:.0%} recall ({size}): {escape(listed)}")
    elif result.genre_set is not None:
        listed = ", ".join(g for g, _ in result.genre_set)
        size = f"{len(result.genre_set)} of {n_genres} genres"
        console.print(f"  set at {result.coverage:.0%} coverage ({size}): {escape(listed)}")


def _print_set_basis(classifier: Any, results: list[Any]) -> None:
    """Once, when a set holds genres far below its top one: why (how the sets were sized)."""
    from moviegenre.conformal import holds_far_below

    sets = [r for r in results if r.genre_set is not None and r.coverage is not None]
    if any(holds_far_below([p for _, p in r.genre_set]) for r in sets):
        basis = classifier.set_basis(sets[0].coverage)
        console.print(f"why these sets: {escape(basis.describe(classifier.genres))}")


def _stdin_lines() -> list[str]:
    """The lines of stdin (without their line ends), refused in one line if not UTF-8."""
    import sys

    lines = []
    for number, raw in enumerate(sys.stdin.buffer, 1):
        try:
            lines.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"line {number} of stdin is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at "
                f"byte {exc.start + 1}); pass UTF-8 text"
            ) from None
    if not lines:
        raise ConfigError("'-' reads descriptions from stdin, one per line, but stdin was empty")
    return lines


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


@app.command()
def score(
    input: Annotated[Path, typer.Option(help="File of descriptions to score.")],
    output: Annotated[
        Path, typer.Option(help="Where to write scores: *.csv, *.parquet or *.jsonl.")
    ],
    model: ModelOpt = None,
    top_k: TopK = 1,
    format: Annotated[
        str,
        typer.Option(
            help="Output layout: 'wide' (top-k columns, a multi-label model's 'labels', error) "
            "or 'kaggle' (exactly id,genre; every row is scored: the 20-word/English checks "
            "are skipped)."
        ),
    ] = "wide",
    no_checks: NoChecks = False,
    coverage: Coverage = None,
    recall: Recall = None,
    text_col: TextCol = None,
    id_col: IdCol = None,
    batch_size: BatchSize = 256,
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (and per resumable part).")] = (
        10_000
    ),
    workers: Annotated[int, typer.Option(help="Local scoring processes.")] = 1,
    engine: Annotated[
        str, typer.Option(help="Scoring engine: 'local' or 'ray' (RAY_ADDRESS or local).")
    ] = "local",
    overwrite: Annotated[
        bool, typer.Option(help="Start fresh, replacing OUTPUT and unfinished parts.")
    ] = False,
) -> None:
    """Score a whole file, chunk by chunk, into CSV or Parquet (resumable: run it again)."""
    from moviegenre.batch import BatchSettings, score_file
    from moviegenre.classifier import GenreClassifier

    classifier = GenreClassifier.load(model)
    # Kaggle submissions need a genre on every row, so short texts are scored, not refused.
    check = not no_checks and format != "kaggle"
    settings = BatchSettings(
        output_format=format,
        top_k=top_k,
        batch_size=batch_size,
        text_col=text_col,
        id_col=id_col,
        check=check,
        chunk_rows=chunk_rows,
        coverage=coverage,
        recall=recall,
    )
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
        err_console.print(
            f"interrupted: run the same command again to resume into {escape(str(output))}"
        )
        raise
    resumed = f", {summary.resumed_rows:,} from an earlier run" if summary.resumed_rows else ""
    console.print(
        f"scored {plural(summary.rows, 'row')} ({summary.errors:,} refused{resumed}) into "
        f"[bold]{escape(str(output))}[/bold]",
        soft_wrap=True,  # one line, whatever the terminal's width: scripts read it
    )
    if summary.errors and check:
        err_console.print(f"hint: rows {NO_CHECKS_HINT}", highlight=False)
