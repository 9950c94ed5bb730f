"""k-fold stratified cross-validation of a training recipe over every labelled row.

Trains ``--kind`` (default ``blend``, the bundled default's recipe) on each fold's training
rows exactly as ``moviegenre train`` does, scores the held-out fold, and prints one Markdown
table: each fold, then mean and standard deviation. For a blend it also scores each member
alone. Each fold's held-out probabilities (and, for kinds that hold rows out inside ``fit``,
those held-out rows) are written to ``--out`` as ``fold-K.npz`` with a ``folds.json`` summary,
after every fold, so a long CPU run can be inspected while it goes and conformal coverage can be
measured from it afterwards (benchmarks/conformal.py ``--cv DIR``).

    python benchmarks/cv.py --folds 3 --max-seq-length 128 --device cpu --out ../runs/cv --append
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _results import append_results
from _setup import load, require_data

FILES = ("train_data.txt", "test_data_solution.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="blend")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-seq-length", type=int, default=256, help="fine-tuned members")
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuned members")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for per-fold results")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--smoke", action="store_true", help="2 steps a fold, 600 rows: a dry run")
    args = parser.parse_args()
    require_data()

    from moviegenre.data.split import stratified_folds
    from moviegenre.metrics import headline, score
    from moviegenre.training import TrainSettings, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load(*FILES, require_labels=True)
    partner = {"max_seq_length": args.max_seq_length, "epochs": args.epochs}
    if args.smoke:
        partner |= {"max_steps_per_epoch": 2, "epochs": 1}
        data = data.subset(range(600))
        args.append = False
    params = {"partner_params": partner} if args.kind == "blend" else {}
    if args.kind == "finetune":
        params = dict(partner)
    settings = TrainSettings(kind=args.kind, params=params, device=args.device, name="cv")
    labels = np.array(data.labels)
    splits = stratified_folds(labels, n_folds=args.folds, random_state=args.random_state)
    args.out.mkdir(parents=True, exist_ok=True)
    folds: list[dict] = []
    last = [0.0]

    def progress(message: str, done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 120 or done == total:
            last[0] = time.perf_counter()
            print(f"{time.strftime('%H:%M:%S')} {message} {done}/{total}", file=sys.stderr)

    for k, (train_idx, test_idx) in enumerate(splits):
        start = time.perf_counter()
        print(f"fold {k + 1}/{args.folds}: training on {len(train_idx)} rows", file=sys.stderr)
        result = train(data.subset(train_idx), settings, progress=progress)
        clf, model = result.classifier, result.classifier.model
        test = data.subset(test_idx)
        proba = clf.predict_proba(test.texts, batch_size=256)
        row = {"fold": k + 1, "train_rows": len(train_idx), "test_rows": len(test_idx)}
        row |= {"scores": headline(score(test.labels, proba, clf.genres))}
        arrays = {"test_index": test_idx, "proba": proba.astype(np.float32)}
        if hasattr(model, "member_probas"):
            p_lin, p_partner = model.member_probas(test.texts)
            row["linear"] = headline(score(test.labels, p_lin, clf.genres))
            row["partner"] = headline(score(test.labels, p_partner, clf.genres))
            row["weight"], row["temperature"] = model.weight_, model.temperature_
        held = model.heldout()
        if held is not None:
            arrays["heldout_index"] = train_idx[held.index]
            arrays["heldout_proba"] = held.proba.astype(np.float32)
        row["seconds"] = round(time.perf_counter() - start, 1)
        folds.append(row)
        np.savez_compressed(args.out / f"fold-{k + 1}.npz", **arrays)
        summary = {"command": sys.argv, "genres": list(clf.genres), "folds": folds}
        (args.out / "folds.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        print(json.dumps(row), file=sys.stderr)

    text = table(folds, args, partner["epochs"])
    print(text)
    if args.append:
        heading = (
            f"{args.folds}-fold stratified CV of `{args.kind}` over all {len(data):,} labelled rows"
        )
        append_results(heading, text)


def table(folds: list[dict], args: argparse.Namespace, epochs: int) -> str:
    """Each fold's scores, then mean and (sample) standard deviation over folds."""
    columns = ("accuracy", "macro_f1", "weighted_f1", "top3_accuracy")
    lines = [
        "| fold | rows (train / test) | model | accuracy | macro-F1 | weighted-F1 | top-3 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    models = [("scores", f"**{args.kind}**"), ("linear", "linear member"), ("partner", "partner")]
    models = [(key, name) for key, name in models if key in folds[0]]
    for fold in folds:
        for key, name in models:
            cells = " | ".join(f"{fold[key][c]:.4f}" for c in columns)
            rows = f"{fold['train_rows']:,} / {fold['test_rows']:,}"
            lines.append(f"| {fold['fold']} | {rows} | {name} | {cells} |")
    for key, name in models:
        cells = []
        for c in columns:
            values = [fold[key][c] for fold in folds]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {spread:.4f}")
        lines.append(f"| mean ± sd | | {name} | {' | '.join(cells)} |")
    minutes = sum(fold["seconds"] for fold in folds) / 60
    settings = (
        f"{args.folds} folds (split.stratified_folds, random_state {args.random_state}); "
        f"fine-tuned members at max_seq_length {args.max_seq_length}, {epochs} epochs, "
        f"device {args.device}; {minutes:.0f} min in all."
    )
    return "\n".join(lines) + "\n\n" + settings


if __name__ == "__main__":
    main()
