"""How well `moviegenre audit` finds planted label errors, and what it flags on the real file.

Flips 5% of train_data.txt's labels to another genre at random (seeded) with
``moviegenre.audit.planted_noise_check`` -- the same protocol `moviegenre audit` runs on the
user's file -- and prints precision and recall of the planted flips among the top-N flagged rows;
then the per-genre counts and the top 20 flagged rows of the real, unflipped file. ``--append``
adds the tables to benchmarks/RESULTS.md.

    python benchmarks/audit.py --append
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

from _results import append_results
from _setup import load

TOP_N = [50, 100, 200, 400]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="linear", help="model kind for out-of-fold scores")
    parser.add_argument("--share", type=float, default=0.05, help="share of labels to flip")
    parser.add_argument("--seed", type=int, default=0, help="seed of the flips")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()

    from moviegenre.audit import audit, planted_noise_check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load("train_data.txt", require_labels=True)
        start = time.perf_counter()
        check = planted_noise_check(dataset, args.kind, share=args.share, seed=args.seed)
        seconds = time.perf_counter() - start
        real = audit(dataset, args.kind, planted_share=None)
    lines = [
        f"Planted {check.planted} flips ({args.share:.0%}, seed {args.seed}) in {real.rows} "
        f"rows; {check.flagged} rows flagged in {seconds:.1f} s ({args.kind}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores).",
        "",
        "| top N flagged | planted flips found | precision | recall |",
        "|---:|---:|---:|---:|",
    ]
    for n in [*sorted({*TOP_N, check.planted}), None]:
        label = f"all {check.flagged}" if n is None else str(n)
        lines.append(
            f"| {label} | {check.found(n)} | {check.precision(n):.3f} | {check.recall(n):.3f} |"
        )
    lines += [
        "",
        f"Real `train_data.txt`: {real.headline()}. Per given genre (counts of flagged rows):",
        "",
        "| genre | rows | flagged | share | suggested instead |",
        "|---|---:|---:|---:|---|",
    ]
    for g in real.genres:
        lines.append(
            f"| {g.genre} | {g.rows} | {g.flagged} | {g.flagged_share:.0%} | {g.suggested_text()} |"
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
