"""What a user of each bundled model waits for: import + load + first prediction, throughput.

Each model runs in a fresh process (so import and load times are a cold start's, and peak RSS
is its own): time to ``GenreClassifier.load(name)`` and classify one text, then
``predict_proba`` over every description of ``test_data_solution.txt`` (batches of 256; the
encoder kinds sort each batch by length and pad per batch). Whether torch got imported is
reported too: serving must not need it. Prints a Markdown table; ``--append`` adds it to
benchmarks/RESULTS.md with the command.

    python benchmarks/serving.py                 # every bundled model
    python benchmarks/serving.py linear /path/to/model --append
    python benchmarks/serving.py --record --append   # maintainers: store speeds in model.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _results import append_results
from _setup import load, require_data


def _child(name: str) -> None:
    start = time.perf_counter()
    from moviegenre import GenreClassifier
    from moviegenre.examples import EXAMPLES

    clf = GenreClassifier.load(name)
    clf.predict([EXAMPLES["Frontier town"]])
    first = time.perf_counter() - start

    texts = load("test_data_solution.txt").texts
    t0 = time.perf_counter()
    clf.predict_proba(texts, batch_size=256)
    rate = len(texts) / (time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "model": name,
                "kind": clf.kind,
                "first_s": first,
                "per_second": rate,
                "rows": len(texts),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "torch_imported": "torch" in sys.modules,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="bundled names or model directories")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument(
        "--record",
        action="store_true",
        help="store each bundled model's speed in its model.json (what `moviegenre models` shows)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    require_data()
    from moviegenre.classifier import BUNDLED_MODELS, bundled_path
    from moviegenre.serialization import record_metrics

    lines = [
        "| model | kind | load + first prediction s | desc/s (3,670 rows) | peak RSS MB | torch |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name in args.models or list(BUNDLED_MODELS):
        run = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True
        )
        if run.returncode != 0:
            sys.exit(f"{name} failed:\n{run.stderr[-3000:]}")
        r = json.loads(run.stdout.strip().splitlines()[-1])
        if args.record and name in BUNDLED_MODELS:
            speed = {"per_second": round(r["per_second"], 1), "first_prediction_s": r["first_s"]}
            speed["measured"] = "benchmarks/serving.py, 2 cores, batches of 256"
            record_metrics(bundled_path(name), "speed", speed)
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['first_s']:.2f} | {r['per_second']:,.1f} "
            f"| {r['peak_rss_mb']:.0f} | {'imported' if r['torch_imported'] else 'not imported'} |"
        )
    text = "\n".join(lines)
    text += f"\n\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} when done."
    print(text)
    if args.append:
        append_results("Serving the bundled models", text)


if __name__ == "__main__":
    main()
