"""How fast moviegenre answers (issue 20): cold starts, the linear model against the seed
notebook's pipeline, and the default model quiet and beside a process that keeps a core busy.

One run prints, side by side:

* wall time of cold processes (median of ``--cold`` runs each): ``import moviegenre``,
  ``moviegenre --version``, and ``moviegenre predict "<30 words>"`` with ``--model linear``
  and with the default model; plus what ``-X importtime`` charges to ``import moviegenre``;
* in one process, alternating rounds (best of ``--rounds``) over the 3,670 descriptions of
  ``test_data_solution.txt``: the seed notebook's ``TfidfVectorizer() + LogisticRegression``
  (fit on ``train_data.txt``) ``predict_proba``, the bundled ``linear`` ``predict_proba``, and
  its ``classify`` with the input checks on (language identification included);
* the default model's ``predict_proba`` descriptions/s over the first ``--texts`` test
  descriptions, quiet and with a busy-loop process keeping one core busy, and one text's
  latency at concurrency 1 and 32 (threads of one process calling ``predict_proba``), for
  ONNX Runtime's own session settings (``MOVIEGENRE_ORT=ort``: what moviegenre used before),
  for threads that never spin (``MOVIEGENRE_ORT=threads=0,spinning=0``: issue 20's first
  setting) and for today's ``RuntimeSettings`` (spinning bounded to 200 µs), each in a fresh
  process, alternately.

The machine's load average is printed before and after: on a shared machine, read the ratios
of one run (measured side by side), not the absolute rates. About 3-5 minutes on 2 cores.

    python benchmarks/speed.py              # print the tables
    python benchmarks/speed.py --append     # and append them to benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

from _results import append_results
from _setup import ROOT, load, require_data

#: A 30-word description (the issue's "one-text predict").
TEXT = (
    "A retired gunslinger rides into a dusty frontier town where a cattle baron has taken the "
    "water rights, and the sheriff is in his pocket, so he straps on his revolver again."
)
HOG = "while True: pass"
RUNTIMES = {
    "ONNX Runtime defaults (before)": "ort",
    # the first setting of issue 20: idle threads sleep at once
    "threads that never spin (before)": "threads=0,spinning=0",
    # today's default: spinning, but an idle thread sleeps after 200 µs
    "RuntimeSettings (now: spin <= 200 µs)": "",
}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = (
        src + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else src
    )
    env.update(extra)
    return env


def _wall(args: list[str], runs: int) -> float:
    """Median wall seconds of ``runs`` cold processes running ``python args``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=_env(), capture_output=True)
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            sys.exit(f"{args} failed:\n{done.stderr.decode()[-2000:]}")
    return statistics.median(times)


def _import_time() -> float:
    """Seconds ``-X importtime`` charges to ``import moviegenre`` (cumulative)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import moviegenre"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    for line in run.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "moviegenre":
            return int(parts[1]) / 1e6
    return float("nan")


def cold(runs: int) -> list[tuple[str, float, str]]:
    cli = ["-m", "moviegenre"]  # what the `moviegenre` script runs
    rows = [
        ("`import moviegenre`", _wall(["-c", "import moviegenre"], runs), "0.3"),
        ("`moviegenre --version`", _wall([*cli, "--version"], runs), "0.3"),
        ("`moviegenre --help`", _wall([*cli, "--help"], runs), ""),
        (
            "`predict TEXT --model linear`",
            _wall([*cli, "predict", TEXT, "-m", "linear"], runs),
            "1.0",
        ),
        ("`predict TEXT` (default model)", _wall([*cli, "predict", TEXT], runs), "2.0"),
    ]
    return [(name, seconds, target) for name, seconds, target in rows]


def _linear_child(rounds: int) -> None:
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from moviegenre import GenreClassifier

    warnings.simplefilter("ignore")
    train = load("train_data.txt")
    texts = load("test_data_solution.txt").texts
    seed = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    seed.fit(train.texts, train.labels)
    clf = GenreClassifier.load("linear")
    clf.classify(texts[:10])  # warm: the feature index and the language model are built
    calls = {
        "seed": lambda: seed.predict_proba(texts),
        "proba": lambda: clf.predict_proba(texts),
        "classify": lambda: clf.classify(texts),
    }
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    print(json.dumps({name: len(texts) / seconds for name, seconds in best.items()}))


def _rate(clf, texts: list[str]) -> float:
    start = time.perf_counter()
    clf.predict_proba(texts, batch_size=256)
    return len(texts) / (time.perf_counter() - start)


def _latencies(clf, concurrency: int, calls: int) -> list[float]:
    """Seconds per one-text ``predict_proba`` call, ``concurrency`` threads at once."""
    out: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(calls):
            start = time.perf_counter()
            clf.predict_proba([TEXT])
            with lock:
                out.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def _default_child(n_texts: int) -> None:
    import warnings

    from moviegenre import GenreClassifier

    warnings.simplefilter("ignore")
    texts = load("test_data_solution.txt").texts[:n_texts]
    clf = GenreClassifier.load()
    clf.predict_proba(texts[:32])  # warm
    quiet = _rate(clf, texts)
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        time.sleep(0.5)
        busy = _rate(clf, texts)
    finally:
        hog.kill()
        hog.wait()
    one = _latencies(clf, 1, 30)
    many = _latencies(clf, 32, 2)
    result = {
        "quiet": quiet,
        "busy": busy,
        "p50_1": statistics.median(one) * 1e3,
        "p50_32": statistics.median(many) * 1e3,
        "p95_32": statistics.quantiles(many, n=20)[-1] * 1e3,
    }
    print(json.dumps(result))


def _child(kind: str, arg: int, **env: str) -> dict[str, float]:
    run = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(arg)],
        env=_env(**env),
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"{kind} child failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="cold processes per command")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds, linear")
    parser.add_argument("--texts", type=int, default=480, help="test texts for the default")
    parser.add_argument("--repeats", type=int, default=2, help="alternations, default model")
    parser.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, arg = args.child
        (_linear_child if kind == "linear" else _default_child)(int(arg))
        return
    require_data()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    started = _load()

    lines = [
        f"Cold processes (median of {args.cold}, wall seconds):",
        "",
        "| command | seconds | target |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {s:.2f} | {t or '-'} |" for n, s, t in cold(args.cold)]
    lines.append(f"| `-X importtime`: `import moviegenre` | {_import_time():.3f} | - |")

    rates = _child("linear", args.rounds)
    seed = rates["seed"]
    lines += [
        "",
        f"In one process, best of {args.rounds} alternating rounds over the 3,670 test "
        "descriptions:",
        "",
        "| pipeline | descriptions/s | x seed pipeline | target |",
        "|---|---:|---:|---:|",
        f"| seed notebook: TfidfVectorizer() + LogisticRegression | {seed:,.0f} | 1.00 | - |",
        f"| bundled linear, predict_proba | {rates['proba']:,.0f} | "
        f"{rates['proba'] / seed:.2f} | 0.8 |",
        f"| bundled linear, classify (checks on) | {rates['classify']:,.0f} | "
        f"{rates['classify'] / seed:.2f} | 0.5 |",
    ]

    results: dict[str, list[dict[str, float]]] = {name: [] for name in RUNTIMES}
    for _ in range(args.repeats):
        for name, value in RUNTIMES.items():
            results[name].append(_child("default", args.texts, MOVIEGENRE_ORT=value))
    lines += [
        "",
        f"The default model, fresh processes alternating ({args.repeats} each, best rate and "
        f"median latency kept), predict_proba over the first {args.texts} test descriptions; "
        "busy: with a busy-loop process on one core; latency: one text per call:",
        "",
        "| ONNX Runtime session | quiet desc/s | busy desc/s | busy / quiet | "
        "ms at concurrency 1 (p50) | ms at 32 (p50 / p95) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        quiet = max(r["quiet"] for r in runs)
        busy = max(r["busy"] for r in runs)
        p50_1 = statistics.median(r["p50_1"] for r in runs)
        p50_32 = statistics.median(r["p50_32"] for r in runs)
        p95_32 = statistics.median(r["p95_32"] for r in runs)
        lines.append(
            f"| {name} | {quiet:.1f} | {busy:.1f} | {busy / quiet:.2f} | {p50_1:.1f} | "
            f"{p50_32:.0f} / {p95_32:.0f} |"
        )
    lines += [
        "",
        f"{os.cpu_count()} cores; load average (1 / 5 / 15 min) {started} at the start, "
        f"{_load()} at the end (`uptime` at the start: {uptime}).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append:
        append_results(
            "Speed: cold starts, linear vs the seed pipeline, the default under load", text
        )


if __name__ == "__main__":
    main()
