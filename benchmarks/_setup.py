"""The benchmarks' one setup: where the shared data lives, and how a benchmark loads it.

Results go to RESULTS.md through ``_results.append_results`` (the one appender).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The shared IMDb genre files: train_data.txt, test_data.txt, test_data_solution.txt.
DATA = ROOT.parent / "shared" / "data" / "imdb-genre"
#: The shared multi-label sample (genre lists).
MULTI_LABEL_DATA = ROOT.parent / "shared" / "data" / "imdb-multilabel" / "imdb_movies_sample.csv"


def require_data(path: Path = DATA) -> None:
    """Stop with one line when the shared data is not where the benchmarks expect it."""
    if not path.exists():
        sys.exit(f"shared data not found at {path}; this benchmark needs ../shared/data")


def load(*names: str, **kwargs: Any) -> Any:
    """``load_dataset`` of the shared files ``names`` (several are read as one data set)."""
    from moviegenre.data import load_dataset

    paths = [DATA / name for name in names]
    return load_dataset(paths[0] if len(paths) == 1 else paths, **kwargs)
