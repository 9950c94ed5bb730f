"""Batch scoring throughput and peak memory, local and Ray, on synthetic catalogues.

Synthetic inputs cycle the real descriptions of ../shared/data/imdb-genre (train + test files)
into CSVs of N rows. Each run is a fresh child process that reports its own peak RSS (VmHWM);
the PSS of its whole process tree (workers, raylet, Ray workers) is sampled from /proc.

    python benchmarks/batch.py --rows 100000 1000000 --default-rows 10000 --engines local ray
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from _results import append_results
from _setup import load, require_data

RESULT_TAG = "BATCH-BENCH-RESULT "  # Ray may print to stdout too


def descriptions() -> list[str]:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        texts = []
        for name in ("train_data.txt", "test_data.txt"):
            texts += load(name).texts
    return texts


def synthetic(path: Path, rows: int, texts: list[str]) -> Path:
    """``rows`` (id, text) rows cycling the shared descriptions."""
    if not path.exists():
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows((f"s{i}", texts[i % len(texts)]) for i in range(rows))
    return path


def linear_model(folder: Path) -> Path:
    """A linear model trained on the shared training file (C fixed: this times scoring only)."""
    from moviegenre.serialization import ModelDir

    if not ModelDir(folder).holds_model():
        from moviegenre.training import TrainSettings, train

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load("train_data.txt")
        train(data, TrainSettings(search={"C": [0.5]})).classifier.save(folder)
    return folder


# -- one measured run, in a child process -----------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from moviegenre.batch import BatchSettings, score_file
    from moviegenre.classifier import GenreClassifier

    if args.engine == "ray":
        import ray

        ray.init(
            num_cpus=2,
            object_store_memory=200 * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
        )
    classifier = GenreClassifier.load(args.model)
    settings = BatchSettings(check=args.checks, chunk_rows=args.chunk_rows)
    start = time.perf_counter()
    summary = score_file(
        classifier,
        args.input,
        args.output,
        settings,
        engine=args.engine,
        overwrite=True,
        workers=args.workers if args.engine == "local" else 1,
    )
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    result = {"rows": summary.rows, "errors": summary.errors, "seconds": seconds}
    print(RESULT_TAG + json.dumps({**result, "peak_rss_mb": peak}), flush=True)


def _tree_pss_mb(root: int) -> float:
    """PSS (MB) of ``root`` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(kids)
        frontier += kids
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def measure(model: Path, data: Path, engine: str, args: argparse.Namespace) -> dict:
    out = data.with_name(f"{data.stem}-{engine}-{model.name}.parquet")
    cmd = [sys.executable, __file__, "--child", "--model", str(model), "--input", str(data)]
    cmd += ["--output", str(out), "--engine", engine, "--chunk-rows", str(args.chunk_rows)]
    cmd += ["--workers", str(args.workers)] + (["--checks"] if args.checks else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak_tree, stop = [0.0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak_tree[0] = max(peak_tree[0], _tree_pss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, _ = os.wait4(proc.pid, 0)
    stop.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    tagged = [line for line in stdout.splitlines() if line.startswith(RESULT_TAG)]
    result = json.loads(tagged[-1][len(RESULT_TAG) :])
    out.unlink(missing_ok=True)
    return {**result, "peak_tree_mb": peak_tree[0]}


def table(rows: list[dict]) -> str:
    lines = [
        "| model | engine | workers | checks | rows | seconds | rows/s | peak RSS driver (MB) "
        "| peak PSS all processes (MB) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['engine']} | {r['workers']} "
            f"| {'on' if r['checks'] else 'off'} | {r['rows']:,} "
            f"| {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | {r['peak_rss_mb']:.0f} "
            f"| {r['peak_tree_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--default-rows", type=int, default=10_000)
    parser.add_argument("--engines", nargs="+", default=["local", "ray"])
    parser.add_argument("--checks", action="store_true", help="Apply the input checks.")
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Local engine processes.")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mg-batch")
    parser.add_argument("--append", action="store_true", help="Append to benchmarks/RESULTS.md.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    require_data()
    args.workdir.mkdir(parents=True, exist_ok=True)
    texts = descriptions()
    from moviegenre.classifier import BUNDLED_MODEL_DIR
    from moviegenre.serialization import ModelDir

    plan = [(linear_model(args.workdir / "linear"), "linear", n) for n in args.rows]
    if args.default_rows and ModelDir(BUNDLED_MODEL_DIR).holds_model():
        plan.append((BUNDLED_MODEL_DIR, "default", args.default_rows))
    results = []
    for model, label, n in plan:
        data = synthetic(args.workdir / f"synthetic-{n}.csv", n, texts)
        for engine in args.engines:
            run = measure(model, data, engine, args)
            workers = args.workers if engine == "local" else "2 actors"
            results.append(
                {"model": label, "engine": engine, "workers": workers, "checks": args.checks, **run}
            )
            print(table(results[-1:]).splitlines()[-1], flush=True)
    report = table(results)
    print(report)
    if args.append:
        append_results("Batch scoring", report)


if __name__ == "__main__":
    main()
