"""The in-memory dataset: a file's rows as parallel lists, their genre sets and the counts
a data report needs (duplicates, conflicting labels, genres per row, co-occurrence), the
fingerprint that ties a model to its data, and the genre-list rules shared by every reader.

``moviegenre.data.loading`` loads files into it; ``moviegenre.data`` re-exports what is public.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

import numpy as np

from moviegenre.checks import MIN_WORDS, word_count
from moviegenre.data.rows import LABEL_SEPARATORS, NO_DESCRIPTION, NO_GENRES, split_genres
from moviegenre.errors import ConfigError, DataError
from moviegenre.genres import normalise_label
from moviegenre.multilabel import GenreSet, as_sets, is_multi_label, unknown_genres

_YEAR = re.compile(r"\((\d{4}|\?{4})(?:/[IVXLC]+)?\)")


class DataQualityWarning(UserWarning):
    """Duplicate descriptions or conflicting labels in a loaded file (rows are kept), or rows
    skipped while loading for lacking a description or a genre (counted in ``skipped``)."""


#: What ``Dataset.skipped`` counts, in words.
SKIPPED = {NO_DESCRIPTION: "without a description", NO_GENRES: "without a genre"}


@dataclass
class Dataset:
    """Parallel lists of one file's rows; ``labels`` is None for an unlabelled file.

    ``labels`` holds one genre name per row, or for a multi-label dataset one genre set
    (tuple) per row. ``skipped`` counts the rows left out while loading (by what they
    lacked, keys of :data:`SKIPPED`); ``notes`` says how the file was read (separator,
    mixing), for a log line.
    """

    texts: list[str]
    labels: list[str] | list[GenreSet] | None
    ids: list[str]
    titles: list[str | None]
    years: list[int | None]
    source: str
    row_errors: list[str | None] | None = None
    skipped: dict[str, int] = default(default_factory=dict)
    notes: list[str] = default(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.texts)
        columns = {"labels": self.labels, "ids": self.ids, "titles": self.titles}
        columns |= {"years": self.years, "row_errors": self.row_errors}
        for field, values in columns.items():
            if values is not None and len(values) != n:
                raise ConfigError(f"Dataset has {n} texts but {len(values)} {field}")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def multi_label(self) -> bool:
        """Whether the labels are genre sets (several genres per row possible)."""
        return self.labels is not None and is_multi_label(self.labels)

    def require_single_label(self, what: str) -> None:
        """Refuse genre sets, in one line, for ``what`` (a step that needs one genre a row)."""
        if self.multi_label:
            raise DataError(
                f"{self.source} holds several genres per row (multi-label); {what} needs one "
                "genre per row"
            )

    def check_genres(self, classes: Sequence[str], model: str = "the model") -> None:
        """Refuse, in one line, genres that ``classes`` (a model's genres) lacks; a genre
        holding a separator points at the separator (``label_sep``)."""
        unknown = unknown_genres(self.genre_sets(), classes)
        if not unknown:
            return
        more = len(unknown) - 10
        shown = ", ".join(unknown[:10]) + (f" and {more} more" if more > 0 else "")
        separators = (*LABEL_SEPARATORS, ";", "/")
        hint = (
            "; a genre holding a separator means the genres were split on another one (pass "
            "label_sep to choose it)"
            if any(sep in g for g in unknown for sep in separators)
            else " (use data with those genres, or retrain)"
        )
        raise ConfigError(
            f"{self.source} has genres {model} does not know: {shown}; {model}'s genres are: "
            f"{', '.join(classes)}{hint}"
        )

    def genre_sets(self) -> list[GenreSet]:
        """Every row's genres as a set (a single label is a set of one); [] if unlabelled."""
        return as_sets(self.labels or [])

    def genre_counts(self) -> dict[str, int]:
        """Rows per genre (a row counts for each of its genres), most frequent first."""
        counts = Counter(g for genres in self.genre_sets() for g in genres)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def genres_per_row(self) -> dict[int, int]:
        """Rows by how many genres they hold ({1: rows with one genre, 2: ...})."""
        return dict(sorted(Counter(len(g) for g in self.genre_sets()).items()))

    def cooccurrence(self) -> tuple[list[str], np.ndarray]:
        """(genres most frequent first, matrix): ``matrix[i, j]`` rows holding genres i and j;
        the diagonal is each genre's row count."""
        names = list(self.genre_counts())
        column = {g: j for j, g in enumerate(names)}
        matrix = np.zeros((len(names), len(names)), dtype=np.int64)
        for genres in self.genre_sets():
            idx = [column[g] for g in genres]
            matrix[np.ix_(idx, idx)] += 1
        return names, matrix

    def subset(self, indices: Iterable[int] | np.ndarray) -> Dataset:
        """The rows at ``indices`` (ints, or a boolean mask), in that order."""
        idx = np.asarray(indices if not isinstance(indices, Iterator) else list(indices))
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        rows = [int(i) for i in idx.ravel()]

        def pick(values: list | None) -> list | None:
            return None if values is None else [values[i] for i in rows]

        return Dataset(
            texts=pick(self.texts),
            labels=pick(self.labels),
            ids=pick(self.ids),
            titles=pick(self.titles),
            years=pick(self.years),
            source=self.source,
            row_errors=pick(self.row_errors),
        )

    def quality(self) -> dict[str, int]:
        """Counts for a data report; duplicates compare texts case- and whitespace-insensitively.

        ``skipped_*`` are the rows left out while loading; ``multi_genre_rows`` the rows
        with several genres (0 for a single-label file).
        """
        stats = _duplicates(self)
        texts = [t for i, t in enumerate(self.texts) if not self._is_error(i)]
        sets = self.genre_sets()
        return {
            "rows": len(self),
            "genres": len({g for genres in sets for g in genres}),
            "duplicate_texts": stats[0],
            "conflicting_labels": stats[1],
            "short_texts": sum(word_count(t) < MIN_WORDS for t in texts),
            "multi_genre_rows": sum(len(genres) > 1 for genres in sets),
            **{f"skipped_{reason}": self.skipped.get(reason, 0) for reason in SKIPPED},
        }

    def _is_error(self, i: int) -> bool:
        return self.row_errors is not None and self.row_errors[i] is not None


def _duplicates(ds: Dataset) -> tuple[int, int, list[str]]:
    """(extra copies of a text, texts seen with 2+ labels, ids of the first duplicate pair)."""
    first: dict[str, int] = {}
    labels: defaultdict[str, set[Any]] = defaultdict(set)
    dup, example = 0, []
    for i, text in enumerate(ds.texts):
        if ds._is_error(i):
            continue
        key = " ".join(text.split()).casefold()
        if key in first:
            dup += 1
            if not example:
                example = [ds.ids[first[key]], ds.ids[i]]
        else:
            first[key] = i
        if ds.labels is not None:
            label = ds.labels[i]
            labels[key].add(label if isinstance(label, str) else frozenset(label))
    return dup, sum(len(s) > 1 for s in labels.values()), example


def parse_year(title: str | None) -> int | None:
    """The release year in an IMDb title, "Oscar et la dame rose (2009)" -> 2009, else None."""
    if not isinstance(title, str):
        return None
    found = _YEAR.findall(title)
    if not found or not found[-1].isdigit():
        return None
    year = int(found[-1])
    return year if 1870 <= year <= 2100 else None


def dataset_fingerprint(texts: Sequence[str], labels: Sequence[str] | None = None) -> str:
    """A sha256 hex digest of texts (and labels), order-sensitive, to tie a model to its data."""
    if labels is not None and len(labels) != len(texts):
        raise ConfigError(f"got {len(texts)} texts but {len(labels)} labels; they must match")
    digest = hashlib.sha256(b"moviegenre-dataset-v1\0")
    for part in (texts, [] if labels is None else labels):
        digest.update(len(part).to_bytes(8, "little"))
        for item in part:
            raw = str(item).encode("utf-8")
            digest.update(len(raw).to_bytes(8, "little") + raw)
    digest.update(b"labels" if labels is not None else b"nolabels")
    return digest.hexdigest()


def _memory_labels(labels: Sequence[Any]) -> list[str] | list[GenreSet]:
    """In-memory labels normalised: strings, or genre sets (lists or tuples) for all rows
    once any row has one."""
    for i, label in enumerate(labels):
        items = label if isinstance(label, list | tuple) else [label]
        if not items:
            raise DataError(f"<memory>, item {i}: empty genre list")
        if not all(isinstance(g, str) for g in items):
            raise DataError(f"<memory>, item {i}: label is {label!r}, not a string")
    if not is_multi_label(labels):
        return [normalise_label(label) for label in labels]
    return [tuple(dict.fromkeys(map(normalise_label, genres))) for genres in as_sets(labels)]


def from_records(
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]] | None = None,
    ids: Sequence[str] | None = None,
    titles: Sequence[str | None] | None = None,
) -> Dataset:
    """An in-memory Dataset (source "<memory>"); ids default to "1".."n", labels are normalised.

    A label may be a genre set (a list or tuple of names); then every label becomes one.
    """
    texts = list(texts)
    for field, values in (("labels", labels), ("ids", ids), ("titles", titles)):
        if values is not None and len(values) != len(texts):
            raise ConfigError(f"got {len(texts)} texts but {len(values)} {field}; they must match")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"<memory>, item {i}: text is {type(text).__name__}, not a string")
    if labels is not None:
        labels = _memory_labels(labels)
    titles = list(titles) if titles is not None else [None] * len(texts)
    return Dataset(
        texts=texts,
        labels=labels,
        ids=[str(i) for i in ids] if ids is not None else [str(i + 1) for i in range(len(texts))],
        titles=titles,
        years=[parse_year(t) for t in titles],
        source="<memory>",
    )


# -- genre lists ----------------------------------------------------------------------------


def check_label_sep(label_sep: object) -> str | None:
    """``label_sep`` as given, refused unless None or a separator: no letters, digits, spaces
    or '-' (genre names hold those: "sci-fi", "reality-tv")."""
    if label_sep is None:
        return None
    if (
        not isinstance(label_sep, str)
        or not label_sep
        or any(c.isalnum() or c.isspace() or c == "-" for c in label_sep)
    ):
        raise ConfigError(
            f"label_sep must be a separator such as ',' or '|' (no letters, digits, spaces "
            f"or '-'), got {label_sep!r}"
        )
    return label_sep


def detect_separator(labels: Iterable[Any]) -> str | None:
    """The genre separator of a file's label cells: '|' if any cell holds one, else ',' if
    any holds one, else None (one genre per cell)."""
    cells = [label for label in labels if isinstance(label, str)]
    return next((sep for sep in LABEL_SEPARATORS if any(sep in c for c in cells)), None)


def as_genre_lists(ds: Dataset, sep: str | None) -> Dataset:
    """``ds`` with its labels split on ``sep`` (strings that hold no list become sets of one);
    unchanged when it has no separator and no list: a single-label file stays strings."""
    if ds.labels is None or (sep is None and not is_multi_label(ds.labels)):
        return ds
    ds.labels = [
        label if not isinstance(label, str) else split_genres(label, sep) if sep else (label,)
        for label in ds.labels
    ]
    return ds


def warn_quality(ds: Dataset) -> None:
    """Warn (DataQualityWarning) about duplicate descriptions and conflicting labels."""
    dup, conflicts, example = _duplicates(ds)
    if dup or conflicts:
        where = f" (first pair: ids {example[0]} and {example[1]})" if example else ""
        warnings.warn(
            f"{ds.source}: {dup} duplicate description(s){where}, {conflicts} description(s) "
            "with conflicting labels; all rows are kept, deduplicate if that matters",
            DataQualityWarning,
            stacklevel=3,
        )
