"""How well `moviegenre audit` finds planted label errors, and what it flags on the real file.

Copies train_data.txt with 5% of its labels flipped to another genre at random (seeded), audits
the copy and prints precision and recall of the planted flips among the top-N flagged rows;
then lists the top 20 flagged rows of the real, unflipped file. ``--append`` adds both tables
to benchmarks/RESULTS.md.

    python benchmarks/audit.py --append
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import warnings
from pathlib import Path

from _results import append_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imdb-genre"
TOP_N = [50, 100, 200, 400]


def _flipped_copy(source: Path, target: Path, share: float, seed: int) -> set[str]:
    """Write ``source`` with ``share`` of its labels changed; return the ids that were flipped."""
    lines = source.read_text(encoding="utf-8").splitlines()
    rows = [line.split(" ::: ") for line in lines]
    genres = sorted({r[2].strip() for r in rows})
    rng = random.Random(seed)
    picked = rng.sample(range(len(rows)), round(share * len(rows)))
    for i in picked:
        rows[i][2] = " " + rng.choice([g for g in genres if g != rows[i][2].strip()]) + " "
    target.write_text("\n".join(" ::: ".join(r) for r in rows) + "\n", encoding="utf-8")
    return {rows[i][0].strip() for i in picked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="linear", help="model kind for out-of-fold scores")
    parser.add_argument("--share", type=float, default=0.05, help="share of labels to flip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flips")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()

    from moviegenre.audit import audit
    from moviegenre.data import load_dataset

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy = Path(tmp) / "train_data.txt"
        planted = _flipped_copy(DATA / "train_data.txt", copy, args.share, args.seed)
        start = time.perf_counter()
        noisy = audit(load_dataset(copy, require_labels=True), args.kind)
        seconds = time.perf_counter() - start
        real = audit(load_dataset(DATA / "train_data.txt", require_labels=True), args.kind)
    flagged = [issue.id for issue in noisy.issues]
    lines = [
        f"Planted {len(planted)} flips ({args.share:.0%}, seed {args.seed}) in "
        f"{noisy.rows} rows; {len(flagged)} rows flagged in {seconds:.1f} s ({args.kind}).",
        "",
        "| top N flagged | planted flips found | precision | recall |",
        "|---:|---:|---:|---:|",
    ]
    for n in [*TOP_N, len(flagged)]:
        found = len(planted & set(flagged[:n]))
        shown = min(n, len(flagged))
        lines.append(
            f"| {n if n != len(flagged) else f'all {n}'} | {found} | "
            f"{found / max(shown, 1):.3f} | {found / len(planted):.3f} |"
        )
    lines += [
        "",
        f"Top 20 of {len(real.issues)} flagged rows of the real `train_data.txt`:",
        "",
        "| id | title | given | suggested | confidence | description |",
        "|---|---|---|---|---:|---|",
    ]
    for issue in real.issues[:20]:
        snippet = issue.snippet[:110].replace("|", "/")
        title = (issue.title or "").replace("|", "/")
        lines.append(
            f"| {issue.id} | {title} | {issue.given} | {issue.suggested} | "
            f"{issue.confidence:.2f} | {snippet} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.append:
        append_results("Label audit (confident learning)", table)


if __name__ == "__main__":
    main()
