"""Train on a full-size (54,214-row) synthetic training set: wall time and peak RSS per kind.

The synthetic set resamples the shared training rows to the genre counts of the full IMDb
training file and shuffles each copy's words (seeded), so no two rows are identical and
nothing is cached in advance. It is written as an IMDb ``:::`` file and each kind is trained
on it end to end, as ``moviegenre train`` does, in its own fresh process (peak RSS is the
process's own; the encoder starts from an empty embedding cache unless ``--cache-dir``).

    python benchmarks/scale.py                         # linear and encoder, 54,214 rows
    python benchmarks/scale.py --rows 5000 --kinds encoder
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _results import append_results
from _setup import load, require_data

#: Genre counts of the full 54,214-row IMDb training file (../shared/data/README.md).
FULL_COUNTS = {
    "drama": 13613, "documentary": 13096, "comedy": 7447, "short": 5073, "horror": 2204,
    "thriller": 1591, "action": 1315, "western": 1032, "reality-tv": 884, "family": 784,
    "adventure": 775, "music": 731, "romance": 672, "sci-fi": 647, "adult": 590, "crime": 505,
    "animation": 498, "sport": 432, "talk-show": 391, "fantasy": 323, "mystery": 319,
    "musical": 277, "biography": 265, "history": 243, "game-show": 194, "news": 181, "war": 132,
}  # fmt: skip


def synthesize(rows: int, path: Path, seed: int = 0) -> None:
    """Write ``rows`` word-shuffled resampled rows with the full data's genre mix to ``path``."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shared = load("train_data.txt", require_labels=True)
    by_genre: dict[str, list[str]] = {}
    for text, label in zip(shared.texts, shared.labels, strict=True):
        by_genre.setdefault(label, []).append(text)
    total = sum(FULL_COUNTS.values())
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        n = 0
        for genre, count in FULL_COUNTS.items():
            for _ in range(max(1, round(count * rows / total))):
                words = rng.choice(by_genre[genre]).split()
                rng.shuffle(words)
                n += 1
                out.write(f"{n} ::: Synthetic {n} (2000) ::: {genre} ::: {' '.join(words)}\n")


def child(kind: str, path: str) -> dict:
    from moviegenre.data import load_dataset
    from moviegenre.training import TrainSettings, train

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_dataset(path, require_labels=True)
    result = train(data, TrainSettings(kind=kind))
    return {
        "kind": kind,
        "rows": len(data),
        "wall_seconds": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "validation_accuracy": result.validation["accuracy"],
        "validation_macro_f1": result.validation["macro_f1"],
        "settings": result.best_params,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=sum(FULL_COUNTS.values()))
    parser.add_argument("--kinds", nargs="*", default=["linear", "encoder"])
    parser.add_argument("--cache-dir", help="embedding cache to use (default: a fresh one)")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    require_data()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic_train.txt"
        synthesize(args.rows, path)
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        env["MOVIEGENRE_CACHE_DIR"] = args.cache_dir or str(Path(tmp) / "cache")
        for kind in args.kinds:
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(path)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode != 0:
                sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    lines = [
        "| kind | rows | wall s | peak RSS MB | val accuracy | val macro-F1 | settings |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['rows']:,} | {r['wall_seconds']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['validation_accuracy']:.3f} | {r['validation_macro_f1']:.3f} "
            f"| {json.dumps(r['settings'])} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.append:
        note = (
            "Validation figures are on word-shuffled synthetic rows, not comparable with the "
            "shared test.\n\n"
        )
        append_results("Scale: synthetic full-size training set", text, note)


if __name__ == "__main__":
    main()
