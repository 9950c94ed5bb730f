"""The default model's recipe (``blend``: linear + fine-tuned MiniLM) on the shared split.

Trains the recipe once on ``train_data.txt`` exactly as ``moviegenre train --kind blend`` does
(weight and temperature chosen on 5-fold cross-fitted predictions of the training rows, as the
shipped model; ``--cv-folds 0``: on a 10% validation slice, one fine-tuning), with the
fine-tuned graphs exported in fp32 (so the conformity scores come from fp32 fold graphs). Then
it scores ``test_data_solution.txt`` with the fp32 graph, with the same graph quantized to int8
(what ships), and each member alone. The int8 model is saved to ``--out`` so it can be
inspected or timed. Prints one Markdown table; ``--append`` adds it, with the command line,
to benchmarks/RESULTS.md.

    python benchmarks/default_model.py --max-seq-length 128 --device cuda --out /tmp/blend-bench
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _results import append_results
from _setup import load, require_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cv-folds", type=int, default=5, help="blend cv_folds (0: one 10%% validation slice)"
    )
    parser.add_argument("--out", type=Path, required=True, help="where the int8 model is saved")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--smoke", action="store_true", help="2 steps, 200 test rows: a dry run")
    args = parser.parse_args()
    require_data()

    from moviegenre.metrics import headline, score
    from moviegenre.models.export import quantize_int8
    from moviegenre.training import TrainSettings, train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_set = load("train_data.txt", require_labels=True)
        test = load("test_data_solution.txt", require_labels=True)
    partner = {"max_seq_length": args.max_seq_length, "epochs": args.epochs, "quantize": False}
    partner["random_state"] = args.seed
    if args.smoke:
        partner |= {"max_steps_per_epoch": 2, "epochs": 1}
        test = test.subset(range(200))
        args.append = False
    settings = TrainSettings(
        kind="blend",
        params={"partner_params": partner, "random_state": args.seed, "cv_folds": args.cv_folds},
        device=args.device,
        name="moviegenre-blend",
    )
    last = [0.0]

    def progress(message: str, done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 60 or done == total:
            last[0] = time.perf_counter()
            print(f"{time.strftime('%H:%M:%S')} {message} {done}/{total}", file=sys.stderr)

    start = time.perf_counter()
    result = train(train_set, settings, progress=progress)
    train_seconds = time.perf_counter() - start
    clf = result.classifier
    model = clf.model
    rows = {}

    def row(name: str, proba, seconds: float | None = None) -> None:
        rows[name] = {**headline(score(test.labels, proba, clf.genres)), "seconds": seconds}

    p_lin, p_fp32 = model.member_probas(test.texts)
    row("linear member (trained on all 2,110 rows)", p_lin)
    row("fine-tuned member, fp32 ONNX", p_fp32)
    row("blend, fp32 ONNX", model.predict_proba(test.texts))
    with tempfile.TemporaryDirectory() as folder:
        fp32 = Path(folder) / "fp32.onnx"
        fp32.write_bytes(model.partner_.onnx_)
        model.partner_.onnx_ = quantize_int8(fp32, Path(folder) / "int8.onnx").read_bytes()
    model.partner_.__dict__.pop("_runtime_cache", None)
    model.partner_.quantize = True
    p_int8 = model.partner_.predict_proba(test.texts)
    row("fine-tuned member, int8 ONNX", p_int8)
    t0 = time.perf_counter()
    proba = clf.predict_proba(test.texts, batch_size=256)
    row("**blend, int8 ONNX (ships)**", proba, time.perf_counter() - t0)
    model.partner_params = {**partner, "quantize": True}
    clf.save(args.out, overwrite=True)

    lines = [
        "| model | accuracy | macro-F1 | weighted-F1 | top-3 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['weighted_f1']:.4f} "
            f"| {r['top3_accuracy']:.4f} |"
        )
    held = result.validation
    ship = rows["**blend, int8 ONNX (ships)**"]
    where = (
        f"{args.cv_folds}-fold cross-fitted predictions of all 2,110 rows"
        if args.cv_folds
        else "the 10% validation slice"
    )
    notes = (
        f"Blend weight of linear {model.weight_:.1f} and temperature {model.temperature_:.3f}, "
        f"chosen on {where} (held-out accuracy {held['accuracy']:.3f}, "
        f"macro-F1 {held['macro_f1']:.3f}); fine-tuned on {model.partner_.device_} in "
        f"{model.partner_.train_seconds_:.0f} s ({train_seconds:.0f} s in all); int8 costs "
        f"{100 * (rows['blend, fp32 ONNX']['accuracy'] - ship['accuracy']):+.2f} points of "
        f"accuracy; int8 blend scored the 3,670 test rows at "
        f"{len(test) / ship['seconds']:.1f} desc/s (not a quiet-machine figure)."
    )
    text = "\n".join(lines) + "\n\n" + notes
    print(text)
    print(json.dumps({"weight": model.weight_, "params": result.best_params}), file=sys.stderr)
    if args.append:
        note = (
            f"Train `train_data.txt` (2,110 rows), score `test_data_solution.txt` (3,670 rows), "
            f"max_seq_length {args.max_seq_length}, {args.epochs} epochs, "
            f"cv_folds {args.cv_folds}.\n"
        )
        append_results("Default-model recipe (blend) on the shared split", text, note)


if __name__ == "__main__":
    main()
