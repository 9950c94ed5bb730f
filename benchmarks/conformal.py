"""Empirical coverage and size of conformal genre sets on the shared split.

Each argument is a model kind (trained on train_data.txt exactly as `moviegenre train` does,
which stores its conformity scores) or a model directory (loaded as it is; "default" is the
bundled model). For coverage 0.8 / 0.9 / 0.95 it prints the share of test_data_solution.txt
rows whose set holds the true genre, and the mean and median set size; marginal sets, and
class-conditional ones with --by-genre. ``--append`` adds the table to benchmarks/RESULTS.md.

    python benchmarks/conformal.py linear default --append
    python benchmarks/conformal.py linear --aps     # why training stores RAPS, not APS
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from _results import append_results

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imdb-genre"
COVERAGES = [0.8, 0.9, 0.95]


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

    from moviegenre.data import load_dataset
    from moviegenre.evaluate import set_coverage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_set = load_dataset(DATA / "train_data.txt", require_labels=True)
        test = load_dataset(DATA / "test_data_solution.txt", require_labels=True)
    lines = [
        "| model | score | sets | target | empirical coverage | mean size | median size |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    misses = []
    for spec in args.models:
        clf, label = _classifier(spec, train_set, args.aps)
        conformal = clf.require_conformal(0.9)
        score = conformal.method.upper()
        if conformal.method == "raps":
            score += f" (lambda {conformal.lam:g}, k_reg {conformal.k_reg})"
        for by_genre in (False, True) if args.by_genre else (False,):
            for row in set_coverage(clf, test, COVERAGES, class_conditional=by_genre):
                lines.append(
                    f"| {label} | {score} | {'per genre' if by_genre else 'marginal'} | "
                    f"{row['coverage']:.2f} | {row['empirical']:.3f} | {row['mean_size']:.2f} | "
                    f"{row['median_size']:.0f} |"
                )
                if not by_genre and abs(row["empirical"] - row["coverage"]) > 0.02:
                    misses.append(f"{label} at {row['coverage']}: {row['empirical']:.3f}")
    table = "\n".join(lines)
    print(table)
    if misses:
        print("MISSED by more than 2 points: " + "; ".join(misses), file=sys.stderr)
    if args.append:
        note = (
            "Train `train_data.txt` (2,110 rows), sets on `test_data_solution.txt` (3,670 rows); "
            "empirical coverage = share of test rows whose set holds the true genre.\n"
        )
        append_results("Conformal genre sets", table, note)


if __name__ == "__main__":
    main()
