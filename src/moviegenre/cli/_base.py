"""What every command shares: the typer app, the consoles, common options, progress bars on
stderr, and ``main``, which turns our errors into one line on stderr with exit code 2."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from moviegenre.errors import ConfigError, MovieGenreError
from moviegenre.progress import stderr_console

#: Results only (tables, JSON, "model written to ..."): what a user may redirect to a file.
console = Console()
#: Progress, warnings, hints and errors: the package's one stderr console.
err_console = stderr_console()


def _show_version(value: bool) -> None:
    if value:
        from moviegenre._version import __version__

        typer.echo(f"moviegenre {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="moviegenre",
    help="Classify English movie descriptions into genres, with probabilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version),
    ] = False,
) -> None:
    """Classify English movie descriptions into genres, with probabilities."""


ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Model directory or bundled model name (default: $MOVIEGENRE_MODEL, else bundled).",
    ),
]
KindOpt = Annotated[str, typer.Option("--kind", help="Model kind, e.g. linear or blend.")]
RandomStateOpt = Annotated[
    int, typer.Option("--random-state", help="Seed of the random split, folds and model.")
]
TextCol = Annotated[str | None, typer.Option(help="Text column of a CSV/JSONL/Parquet file.")]
LabelCol = Annotated[str | None, typer.Option(help="Label column of a CSV/JSONL/Parquet file.")]
LabelSep = Annotated[
    str | None,
    typer.Option(
        help="Separator of several genres in one label cell (default: '|' or ',', detected "
        "per file; a JSON list needs none)."
    ),
]
Strict = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Stop at the first row without a description or a genre (default: skip and "
        "count such rows).",
    ),
]
IdCol = Annotated[str | None, typer.Option(help="Id column (default: 'id', else row numbers).")]
BatchSize = Annotated[int, typer.Option(help="Texts per model call.")]
NoChecks = Annotated[
    bool, typer.Option("--no-checks", help="Skip the 20-word and English-only checks.")
]
Coverage = Annotated[
    float | None,
    typer.Option(help="Also give each text's genre set holding the true genre at this rate."),
]
Recall = Annotated[
    float | None,
    typer.Option(
        help="Multi-label models: also give each text's genre set holding this mean share of "
        "a film's true genres (e.g. 0.9; conformal risk control)."
    ),
]


def refused_option(name: str, message: str) -> Any:
    """A hidden option kept only to say, with exit 2, what to use instead (renamed options)."""

    def refuse(value: str | None) -> None:
        if value is not None:
            raise ConfigError(message)

    return typer.Option(name, hidden=True, callback=refuse, expose_value=False)


def kind_not_model(command: str) -> Any:
    """The hidden ``--model`` of a command that takes a model kind."""
    return refused_option(
        "--model",
        f"{command} takes --kind KIND; --model names a model directory in the other commands",
    )


def progress_bar(description: str, total: int | None = None) -> Any:
    """A bar on stderr that disappears when done, so stdout keeps only the results."""
    from moviegenre.progress import progress_bar as make_bar

    bar = make_bar(console=err_console, transient=True)
    bar.add_task(escape(description), total=total, rate="")
    return bar


@contextmanager
def library_progress(
    description: str, show: Callable[[Any, str], None] | None = None
) -> Iterator[Callable[[str, int, int], None]]:
    """A stderr bar fed by the library's ``moviegenre.progress.report`` calls.

    ``show(bar, message)`` may print a step's message above the bar (e.g. validation scores).
    Yields the callback, for library functions that take one as an argument.
    """
    from moviegenre.progress import reporting

    with progress_bar(description) as bar:
        task = bar.task_ids[0]

        def update(message: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=escape(message[:60]))
            if show is not None:
                show(bar, message)

        with reporting(update):
            yield update


def load_data(
    data: Path | list[Path],
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    strict: bool = False,
    require_labels: bool = True,
) -> Any:
    """``load_dataset`` with the data options every command shares; how the files were read
    (genre separator, mixed files) goes to stderr, one line each, as warnings do."""
    from moviegenre.data import load_dataset

    dataset = load_dataset(
        data,
        text_col=text_col,
        label_col=label_col,
        label_sep=label_sep,
        strict=strict,
        require_labels=require_labels,
    )
    for note in dataset.notes:
        err_console.print(f"[dim]note:[/dim] {escape(in_cli_terms(note))}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    return dataset


def data_options(label_sep: str | None, strict: bool) -> list[str]:
    """The data options as given on the command line, for a recorded command."""
    return (["--label-sep", label_sep] if label_sep is not None else []) + (
        ["--strict"] if strict else []
    )


#: Library wording for Python arguments -> the CLI option the user typed instead.
CLI_TERMS = {
    "pass text_col= to choose one": "pass --text-col to choose one",
    "pass label_col=": "pass --label-col",
    "pass overwrite=True to replace it": "pass --overwrite to replace it",
    "pass check=False or relax CheckSettings": "pass --no-checks",
    "pass strict=True": "pass --strict",
    "pass label_sep": "pass --label-sep",
    "given by label_sep": "given by --label-sep",
}


def option_names() -> dict[str, str]:
    """Python parameter name -> the long CLI option of every command (``top_k`` -> ``--top-k``)."""
    group = typer.main.get_command(app)
    names = {}
    for command in getattr(group, "commands", {}).values():
        for param in command.params:
            long = [o for o in param.opts if o.startswith("--")]
            if param.name and long and not param.hidden:
                names.setdefault(param.name, long[0])
    return names


def in_cli_terms(message: str) -> str:
    """A library message with its Python argument names replaced by CLI option names: the
    phrases of :data:`CLI_TERMS`, and "NAME must ..." where NAME is a command's parameter."""
    for python, cli in CLI_TERMS.items():
        message = message.replace(python, cli)
    names = option_names()

    def option(match: re.Match[str]) -> str:
        return names.get(match["name"], match[0])

    return re.sub(r"\b(?:[A-Z]\w+\.)?(?P<name>[a-z_]+)(?= must )", option, message)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err_console.print(
        f"[yellow]warning:[/yellow] {escape(in_cli_terms(str(message)))}",
        highlight=False,
        soft_wrap=True,
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
        message = escape(in_cli_terms(str(exc)))
        err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)
