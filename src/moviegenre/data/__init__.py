"""Data: files in, :class:`Dataset` out, and the one stratified splitter.

- :mod:`~moviegenre.data.files`: opening files (``.gz``, ``.zip``) and detecting their format
- :mod:`~moviegenre.data.rows`: the Row record, line decoding, columns, genre cells
- :mod:`~moviegenre.data.readers`: one reader per format (IMDb ':::', CSV, JSONL, Parquet)
- :mod:`~moviegenre.data.loading`: ``load_dataset`` and ``iter_chunks``
- :mod:`~moviegenre.data.dataset`: the in-memory Dataset, its checks and fingerprint
- :mod:`~moviegenre.data.split`: the seeded stratified split and folds

This package re-exports exactly the names the old ``moviegenre.data`` module exported, so
``from moviegenre.data import load_dataset`` keeps working.
"""

from moviegenre.data.dataset import (
    DataQualityWarning,
    Dataset,
    check_label_sep,
    dataset_fingerprint,
    detect_separator,
    from_records,
    parse_year,
)
from moviegenre.data.files import FORMATS, detect_format
from moviegenre.data.loading import iter_chunks, load_dataset

__all__ = [
    "FORMATS",
    "DataQualityWarning",
    "Dataset",
    "check_label_sep",
    "dataset_fingerprint",
    "detect_format",
    "detect_separator",
    "from_records",
    "iter_chunks",
    "load_dataset",
    "parse_year",
]
