"""Quality and speed of every model kind on the shared split (train_data -> test_data_solution).

Each model runs in its own fresh process so that peak RSS is its own. Prints one Markdown
table; ``--append`` also adds it, with the command line, to benchmarks/RESULTS.md.

    python benchmarks/quality.py                      # every row
    python benchmarks/quality.py --only linear seed-logreg --append
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
from _results import append_results
from _setup import load, require_data


def _load():

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = load("train_data.txt", require_labels=True)
        test = load("test_data_solution.txt", require_labels=True)
    return train, test


def _timed_proba(predict_proba: Callable, texts: list[str]) -> tuple[np.ndarray, float]:
    predict_proba(texts[:32])  # warm-up: lazy loading is not prediction speed
    start = time.perf_counter()
    proba = predict_proba(texts)
    return proba, len(texts) / (time.perf_counter() - start)


def run_moviegenre(kind: str, params: dict | None = None) -> Callable[[], dict]:
    """A row for one of our kinds, trained exactly as `moviegenre train` does."""

    def run() -> dict:
        from moviegenre.metrics import headline, score
        from moviegenre.training import TrainSettings, train

        train_set, test = _load()
        start = time.perf_counter()
        result = train(train_set, TrainSettings(kind=kind, params=params or {}))
        seconds = time.perf_counter() - start
        clf = result.classifier
        proba, rate = _timed_proba(lambda t: clf.predict_proba(t, batch_size=512), test.texts)
        metrics = headline(score(test.labels, proba, clf.genres))
        return {
            **metrics,
            "train_seconds": seconds,
            "per_second": rate,
            "settings": result.best_params,
        }

    return run


def run_sklearn(name: str) -> Callable[[], dict]:
    """A row for one of the seed's baselines (TF-IDF 100k features, as the notebook did)."""

    def run() -> dict:
        from scipy.special import softmax

        from moviegenre.baselines import BASELINES, _seed_features
        from moviegenre.metrics import headline, score

        train_set, test = _load()
        start = time.perf_counter()
        vectorizer = _seed_features()
        X = vectorizer.fit_transform(train_set.texts)
        model = BASELINES[name]().fit(X, np.asarray(train_set.labels, dtype=object))
        seconds = time.perf_counter() - start

        def proba(texts):
            Xt = vectorizer.transform(texts)
            if hasattr(model, "predict_proba"):
                return model.predict_proba(Xt)
            return softmax(model.decision_function(Xt), axis=1)

        p, rate = _timed_proba(proba, test.texts)
        metrics = headline(score(test.labels, p, list(model.classes_)))
        return {**metrics, "train_seconds": seconds, "per_second": rate, "settings": {}}

    return run


#: row name -> runner. Encoder kinds add their rows here.
ROWS: dict[str, Callable[[], dict]] = {
    "linear": run_moviegenre("linear"),
    "seed-logreg": run_sklearn("LogisticRegression (seed)"),
    "linearsvc-balanced": run_sklearn("LinearSVC (balanced)"),
    "complement-nb": run_sklearn("ComplementNB"),
    # encoder kinds (models/encoder.py, ensemble.py, static.py, finetune.py)
    "encoder": run_moviegenre("encoder"),
    "encoder-int8": run_moviegenre("encoder", {"backend": "onnx-int8"}),
    "ensemble": run_moviegenre("ensemble"),
    "ensemble-int8": run_moviegenre("ensemble", {"partner_params": {"backend": "onnx-int8"}}),
    "static": run_moviegenre("static"),
    "fast": run_moviegenre("fast"),
    "finetune": run_moviegenre("finetune", {"max_seq_length": 128}),
    "finetune-seed-recipe": run_moviegenre(
        "finetune", {"lr": 1e-6, "head_lr": 1e-6, "dropout": 0.3, "epochs": 3}
    ),
    "blend": run_moviegenre("blend", {"partner_params": {"max_seq_length": 128}}),
}


def _child(name: str) -> None:
    row = ROWS[name]()
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(row))


def table(rows: dict[str, dict]) -> str:
    head = "| model | accuracy | macro-F1 | top-3 | train s | desc/s | peak RSS MB | settings |"
    lines = [head, "|" + "---|" * 8]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['top3_accuracy']:.3f} "
            f"| {r['train_seconds']:.1f} | {r['per_second']:,.0f} | {r['peak_rss_mb']:.0f} "
            f"| {json.dumps(r.get('settings', {}))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(ROWS), help="rows to run")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    require_data()
    rows = {}
    for name in args.only or list(ROWS):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
        rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name}: done", file=sys.stderr)
    text = table(rows)
    print(text)
    if args.append:
        note = (
            "Train `train_data.txt` (2,110 rows), score `test_data_solution.txt` "
            "(3,670 rows), 2 cores.\n"
        )
        append_results("Quality on the shared split", text, note)


if __name__ == "__main__":
    main()
