"""Empirical coverage and size of conformal genre sets on the shared split.

Each argument is a model kind (trained on train_data.txt exactly as `moviegenre train` does,
which stores its conformity scores) or a model directory (loaded as it is; "default" is the
bundled model). For coverage 0.8 / 0.9 / 0.95 it prints the share of test_data_solution.txt
rows whose set holds the true genre, the mean and median set size, and that share per true
genre (genres with at least MIN_GENRE_ROWS test rows: the worst one, and how many fall 5 points
or more under the target); marginal sets, and class-conditional ones with --by-genre. It also
prints what the stored scores say (SetBasis: first choice right, sizes). ``--append`` adds the
tables to benchmarks/RESULTS.md.

    python benchmarks/conformal.py linear default --append
    python benchmarks/conformal.py linear --aps     # why training stores RAPS, not APS
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from _results import append_results

COVERAGES = [0.8, 0.9, 0.95]
#: Genres with fewer test rows have per-genre coverages too noisy to rank.
MIN_GENRE_ROWS = 20


def _classifier(spec: str, train_set, aps: bool):
    from moviegenre.classifier import BUNDLED_MODEL_DIR, GenreClassifier
    from moviegenre.models import model_class
    from moviegenre.training import TrainSettings, train

    if spec == "default":
        return GenreClassifier.load(BUNDLED_MODEL_DIR), "bundled default"
    if Path(spec).is_dir():
        return GenreClassifier.load(spec), spec
    model_class(spec)  # an unknown kind fails here, with the list of kinds
    clf = train(train_set, TrainSettings(kind=spec)).classifier
    held = clf.model.heldout()
    if aps and held is not None:  # the same held-out rows, scored by plain APS instead
        from moviegenre.conformal import ConformalScores

        labels = [train_set.labels[i] for i in held.index]
        clf.info.conformal = ConformalScores.from_proba(held.proba, labels, clf.genres)
    return clf, f"{spec} (trained)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model kinds, model directories or 'default'")
    parser.add_argument("--by-genre", action="store_true", help="also class-conditional sets")
    parser.add_argument(
        "--aps", action="store_true", help="score trained kinds' out-of-fold rows by plain APS"
    )
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    from moviegenre.evaluate import set_coverage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_set = load("train_data.txt", require_labels=True)
        test = load("test_data_solution.txt", require_labels=True)
    lines = [
        "| model | score | sets | target | empirical coverage | mean size | median size "
        f"| worst genre ({MIN_GENRE_ROWS}+ rows) | genres 5+ points under |",
        "|---|---|---|---:|---:|---:|---:|---|---:|",
    ]
    bases = []
    misses = []
    for spec in args.models:
        clf, label = _classifier(spec, train_set, args.aps)
        conformal = clf.require_conformal(0.9)
        score = conformal.method.upper()
        if conformal.method == "raps":
            score += f" (lambda {conformal.lam:g}, k_reg {conformal.k_reg})"
        for coverage in COVERAGES:
            bases.append(f"- {label}, {coverage:.0%}: {clf.set_basis(coverage).describe()}")
        for by_genre in (False, True) if args.by_genre else (False,):
            for row in set_coverage(clf, test, COVERAGES, class_conditional=by_genre):
                ranked = {g: v for g, v in row["by_genre"].items() if v[1] >= MIN_GENRE_ROWS}
                worst = min(ranked, key=lambda g: ranked[g][0])
                under = sum(share < row["coverage"] - 0.05 for share, _ in ranked.values())
                lines.append(
                    f"| {label} | {score} | {'per genre' if by_genre else 'marginal'} | "
                    f"{row['coverage']:.2f} | {row['empirical']:.3f} | {row['mean_size']:.2f} | "
                    f"{row['median_size']:.0f} | {worst} {ranked[worst][0]:.3f} "
                    f"({ranked[worst][1]} rows) | {under} of {len(ranked)} |"
                )
                if not by_genre and abs(row["empirical"] - row["coverage"]) > 0.02:
                    misses.append(f"{label} at {row['coverage']}: {row['empirical']:.3f}")
    table = "\n".join(lines) + "\n\nWhat the stored scores say (`GenreClassifier.set_basis`):\n\n"
    table += "\n".join(bases)
    print(table)
    if misses:
        print("MISSED by more than 2 points: " + "; ".join(misses), file=sys.stderr)
    if args.append:
        note = (
            "Train `train_data.txt` (2,110 rows), sets on `test_data_solution.txt` (3,670 rows); "
            "empirical coverage = share of test rows whose set holds the true genre; worst genre "
            f"and genres under: per true genre with {MIN_GENRE_ROWS}+ test rows. Load average "
            f"before the run: {load}.\n"
        )
        append_results("Conformal genre sets", table, note)


if __name__ == "__main__":
    main()
