"""One look and one place for every progress bar (train, evaluate, batch scoring): done/total,
rate, ETA, always drawn on stderr, so that stdout carries only results (``score > out.csv``,
``--json | jq``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_CONSOLE: Any = None


def stderr_console() -> Any:
    """The one rich console that progress bars, status lines and the CLI's messages share.

    It writes to ``sys.stderr`` as it is at each write (so redirections and pytest's capture
    see it), never to stdout.
    """
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(stderr=True)
    return _CONSOLE


def progress_bar(*, console: Any = None, transient: bool = False, unit: str = "") -> Any:
    """A rich ``Progress`` with description, bar, done/total, rate, elapsed time and ETA.

    It draws on ``console``, by default :func:`stderr_console`: never on stdout.
    Tasks may carry a ``rate`` field (e.g. "4,100 rows/s"); it is shown after the counts.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{unit} {{task.fields[rate]}}".strip() + " "),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console if console is not None else stderr_console(),
        transient=transient,
    )


#: The callback that long loops inside a model's ``fit`` report to (set by ``training``).
_REPORTER: ContextVar[Callable[[str, int, int], None] | None] = ContextVar(
    "moviegenre_progress", default=None
)


@contextmanager
def reporting(callback: Callable[[str, int, int], None] | None) -> Iterator[None]:
    """Send ``report`` calls made in this context (e.g. fine-tuning steps) to ``callback``."""
    token = _REPORTER.set(callback)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def report(message: str, done: int, total: int) -> None:
    """Tell the caller's progress callback, if any, that ``done`` of ``total`` steps are done."""
    callback = _REPORTER.get()
    if callback is not None:
        callback(message, done, total)
