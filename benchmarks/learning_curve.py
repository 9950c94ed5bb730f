"""Accuracy and macro-F1 on the shared test file versus training-set size, per model kind.

Each size is a seeded stratified subsample of ``train_data.txt``; each kind is trained on it
exactly as ``moviegenre train`` does (validation split, settings search, refit) and scored
on ``test_data_solution.txt``. Encoder embeddings go through the on-disk cache, so only the
first run pays for embedding. Prints a Markdown table, writes ``learning_curve.png`` and
``learning_curve.json`` next to this file; ``--append`` adds the table to RESULTS.md.

    python benchmarks/learning_curve.py                       # 250 500 1000 2110 x 3 kinds
    python benchmarks/learning_curve.py --sizes 250 2110 --kinds linear encoder
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _results import append_results
from _setup import load, require_data

from moviegenre._util import atomic_write, write_text

HERE = Path(__file__).resolve().parent


def subsample(labels: list[str], size: int, seed: int = 0) -> np.ndarray:
    """Indices of a stratified subsample of ``size`` rows (all rows when size >= len)."""
    from moviegenre.data.split import stratified_split

    if size >= len(labels):
        return np.arange(len(labels))
    keep, _ = stratified_split(labels, val_fraction=1 - size / len(labels), random_state=seed)
    return keep


def cached_proba(model, texts: list[str]) -> np.ndarray:
    """predict_proba, but reading/writing the embedding cache for encoder models.

    Cached embeddings are the training backend's (fp32), so encoder rows here are fp32
    inference; the int8 default differs by -0.3 to +0.2 points on the shared test.
    """
    from moviegenre.models.encoder import EncoderGenreModel
    from moviegenre.models.ensemble import EnsembleGenreModel, blend

    if isinstance(model, EncoderGenreModel):
        return model.predict_proba_embeddings(model.embed(texts))
    if isinstance(model, EnsembleGenreModel) and isinstance(model.partner_, EncoderGenreModel):
        p_lin = model.linear_.predict_proba(texts)
        p_enc = model.partner_.predict_proba_embeddings(model.partner_.embed(texts))
        return blend(p_lin, p_enc, model.weight_)
    return model.predict_proba(texts)


def run(sizes: list[int], kinds: list[str], seed: int) -> list[dict]:
    from moviegenre.metrics import score
    from moviegenre.training import TrainSettings, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = load("train_data.txt", require_labels=True)
        test = load("test_data_solution.txt", require_labels=True)
    rows = []
    for size in sizes:
        part = full.subset(subsample(list(full.labels), size, seed))
        for kind in kinds:
            start = time.perf_counter()
            result = train(part, TrainSettings(kind=kind, random_state=seed))
            seconds = time.perf_counter() - start
            model = result.classifier.model
            metrics = score(test.labels, cached_proba(model, test.texts), list(model.classes_))
            row = {
                "rows": len(part),
                "kind": kind,
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "top3": metrics["top3_accuracy"],
                "train_seconds": seconds,
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| train rows | kind | accuracy | macro-F1 | top-3 | train s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']} | {r['kind']} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} "
            f"| {r['top3']:.3f} | {r['train_seconds']:.1f} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, title in zip(
        axes, ("accuracy", "macro_f1"), ("accuracy", "macro-F1"), strict=True
    ):
        for kind in dict.fromkeys(r["kind"] for r in rows):
            pts = [(r["rows"], r[metric]) for r in rows if r["kind"] == kind]
            ax.plot(*zip(*pts, strict=True), marker="o", label=kind)
        ax.set_xscale("log")
        ax.set_xlabel("training rows")
        ax.set_title(f"test {title}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[250, 500, 1000, 2110])
    parser.add_argument("--kinds", nargs="*", default=["linear", "encoder", "ensemble"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    require_data()
    rows = run(args.sizes, args.kinds, args.seed)
    write_text(HERE / "learning_curve.json", json.dumps(rows, indent=2) + "\n")
    plot(rows, HERE / "learning_curve.png")
    text = table(rows)
    print(text)
    if args.append:
        append_results("Learning curve", text, "Plot: `benchmarks/learning_curve.png`.\n\n")


if __name__ == "__main__":
    main()
