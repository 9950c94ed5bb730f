"""One look for every progress bar (train, evaluate, batch scoring): done/total, rate, ETA."""

from __future__ import annotations

from typing import Any


def progress_bar(*, console: Any = None, transient: bool = False, unit: str = "") -> Any:
    """A rich ``Progress`` with description, bar, done/total, rate, elapsed time and ETA.

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
        console=console,
        transient=transient,
    )
