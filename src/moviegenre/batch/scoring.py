"""Scoring rows into an output table, shared by both batch engines (local and Ray).

It sits below both, so the Ray engine never imports the local one: the settings pinned in the
manifest, the output schema, and ``score_rows`` (one chunk -> one table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from moviegenre.classifier import GenreClassifier
from moviegenre.conformal import check_coverage
from moviegenre.data import Dataset
from moviegenre.errors import ConfigError
from moviegenre.multilabel import check_recall

OUTPUT_FORMATS = ("wide", "kaggle")


@dataclass(frozen=True)
class BatchSettings:
    """How to read the input and lay out the output (all of it is pinned in the manifest)."""

    output_format: str = "wide"
    top_k: int = 1
    batch_size: int = 256
    chunk_rows: int = 10_000
    text_col: str | None = None
    id_col: str | None = None
    check: bool = True
    #: Also write each row's conformal genre set (``genre_set``: genres joined by "|").
    coverage: float | None = None
    #: Multi-label models: also write each row's recall-controlled genre set (``genre_set``).
    recall: float | None = None

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"output format {self.output_format!r} is unknown; use one of "
                + ", ".join(OUTPUT_FORMATS)
            )
        if self.chunk_rows < 1:
            raise ConfigError(f"chunk_rows must be >= 1, got {self.chunk_rows}")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.coverage is not None and self.recall is not None:
            raise ConfigError(
                "give coverage (single-label models) or recall (multi-label models), not both"
            )
        if self.coverage is not None:
            check_coverage(self.coverage)
        if self.recall is not None:
            check_recall(self.recall)
        if self.wants_set and self.output_format == "kaggle":
            raise ConfigError("a genre set needs the 'wide' format; kaggle is exactly id,genre")

    @property
    def wants_set(self) -> bool:
        """Whether each row gets a ``genre_set`` (asked for by coverage or by recall)."""
        return self.coverage is not None or self.recall is not None


#: What an engine reads: the input's chunks, in order.
ChunkSource = Iterable[Dataset]
#: What an engine calls with the number of rows of each finished chunk.
OnRows = Callable[[int], None]


def output_schema(settings: BatchSettings, multi_label: bool = False) -> pa.Schema:
    """Columns: id,genre (kaggle) or id, genre, probability, genre_2, ..., [labels],
    [genre_set], truncated, error.

    ``truncated`` flags a text cut to CheckSettings.max_chars before scoring (every input format
    alike); the kaggle layout has no room for it. ``labels`` (a ``multi_label`` model's, wide
    format) holds the genres assigned to the row, most probable first, joined by ``|`` like
    ``genre_set``; the genre/probability pairs stay the top-k ranking of its per-genre
    probabilities. The kaggle layout of a multi-label model is its top genre per row.
    """
    fields = [pa.field("id", pa.string()), pa.field("genre", pa.string())]
    if settings.output_format == "kaggle":
        return pa.schema(fields)
    fields.append(pa.field("probability", pa.float64()))
    for k in range(2, settings.top_k + 1):
        fields += [pa.field(f"genre_{k}", pa.string()), pa.field(f"probability_{k}", pa.float64())]
    if multi_label:
        fields.append(pa.field("labels", pa.string()))
    if settings.wants_set:
        fields.append(pa.field("genre_set", pa.string()))
    return pa.schema([*fields, pa.field("truncated", pa.bool_()), pa.field("error", pa.string())])


def score_rows(
    classifier: GenreClassifier,
    ids: list[str],
    texts: list[str],
    input_errors: list[str | None] | None,
    settings: BatchSettings,
) -> tuple[pa.Table, int]:
    """Score one chunk into an output table; returns (table, rows carrying an error)."""
    input_errors = input_errors or [None] * len(texts)
    good = [i for i, e in enumerate(input_errors) if e is None]
    results = classifier.classify(
        [texts[i] for i in good],
        top_k=settings.top_k,
        batch_size=settings.batch_size,
        check=settings.check,
        coverage=settings.coverage,
        recall=settings.recall,
    )
    errors: list[str | None] = list(input_errors)
    genres: list[list[tuple[str, float]] | None] = [None] * len(texts)
    truncated = [False] * len(texts)
    for i, result in zip(good, results, strict=True):
        errors[i] = result.error
        genres[i] = result.genres if result.error is None else None
        truncated[i] = result.truncated
    columns: dict[str, list[Any]] = {"id": [str(i) for i in ids]}
    wide = settings.output_format == "wide"
    for k in range(settings.top_k if wide else 1):
        suffix = "" if k == 0 else f"_{k + 1}"
        columns[f"genre{suffix}"] = [g[k][0] if g else None for g in genres]
        if wide:
            columns[f"probability{suffix}"] = [round(g[k][1], 6) if g else None for g in genres]
    multi_label = wide and classifier.info.multi_label
    if multi_label:
        columns["labels"] = _joined(texts, good, [r.labels for r in results])
    if settings.wants_set:
        columns["genre_set"] = _joined(texts, good, [r.genre_set for r in results])
    if wide:
        columns["truncated"] = truncated
        columns["error"] = errors
    table = pa.Table.from_pydict(columns, schema=output_schema(settings, multi_label))
    return table, sum(e is not None for e in errors)


def _joined(
    texts: list[str], good: list[int], genre_lists: list[list[tuple[str, float]] | None]
) -> list[str | None]:
    """One cell per row: the genres of ``genre_lists`` (one per scored row) joined by "|",
    None for a row that was refused or not scored."""
    cells: list[str | None] = [None] * len(texts)
    for i, genres in zip(good, genre_lists, strict=True):
        cells[i] = "|".join(g for g, _ in genres or []) or None
    return cells
