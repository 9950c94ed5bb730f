"""How fast moviegenre answers (issue 20): cold starts, the linear model against the seed
notebook's pipeline, and the default model quiet and beside a process that keeps a core busy.

One run prints, side by side:

* wall time of cold processes (median of ``--cold`` runs each): ``import moviegenre``,
  ``moviegenre --version``, and ``moviegenre predict "<30 words>"`` with ``--model linear``
  and with the default model; plus what ``-X importtime`` charges to ``import moviegenre``;
* in one process, alternating rounds (best of ``--rounds``) over the 3,670 descriptions of
  ``test_data_solution.txt``: the seed notebook's ``TfidfVectorizer() + LogisticRegression``
  (fit on ``train_data.txt``) ``predict_proba``, the bundled ``linear`` ``predict_proba``, and
  its ``classify`` with the input checks on (language identification included), with the
  plainly-English shortcut (now) and identifying every text (before), and the checks alone;
* the default model's ``predict_proba`` descriptions/s over the first ``--texts`` test
  descriptions, quiet and with a busy-loop process keeping one core busy, and one text's
  latency at concurrency 1 and 32 (threads of one process calling ``predict_proba``), for
  ONNX Runtime's own session settings (``MOVIEGENRE_ORT=ort``: what moviegenre used before),
  for spinning bounded to 200 µs and to 50 µs (the default for part of 2026-12-03) and for
  today's ``RuntimeSettings`` (threads that never spin), each in a fresh process, the order
  rotated from round to round.

The machine's load average is printed before and after: on a shared machine, read the ratios
of one run (measured side by side), not the absolute rates. About 12-15 minutes on 2 cores.

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
#: Passes over the texts per rate, quiet and busy, in each process (the best is kept).
PASSES = 2
RUNTIMES = {
    "ONNX Runtime defaults (before)": "ort",
    # bounded spins, the default for part of 2026-12-03 (200 µs, then 50 µs)
    "spin <= 200 µs (before)": "threads=0,spinning=1,spin_us=200",
    "spin <= 50 µs": "threads=0,spinning=1,spin_us=50",
    # today's default: idle threads sleep at once
    "RuntimeSettings (now: threads never spin)": "",
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

    from moviegenre import CheckSettings, GenreClassifier
    from moviegenre.checks import check_texts

    warnings.simplefilter("ignore")
    train = load("train_data.txt")
    texts = load("test_data_solution.txt").texts
    seed = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
    seed.fit(train.texts, train.labels)
    clf = GenreClassifier.load("linear")
    exact = CheckSettings(english_shortcut=False)
    identified = GenreClassifier.load("linear", checks=exact)
    for warm in (clf, identified):  # warm: the feature index and the language model are built
        warm.classify(texts[:10])
    calls = {
        "seed": lambda: seed.predict_proba(texts),
        "proba": lambda: clf.predict_proba(texts),
        "classify": lambda: clf.classify(texts),
        "classify_exact": lambda: identified.classify(texts),
        "checks": lambda: check_texts(texts, clf.checks),
        "checks_exact": lambda: check_texts(texts, exact),
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
    # warm with a full batch: the first batch of a new shape allocates ONNX Runtime's buffers,
    # which cost a first pass over the texts 10-20% of its rate
    clf.predict_proba(texts[:256], batch_size=256)
    quiet = max(_rate(clf, texts) for _ in range(PASSES))
    hog = subprocess.Popen([sys.executable, "-c", HOG])
    try:
        time.sleep(0.5)
        busy = max(_rate(clf, texts) for _ in range(PASSES))
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
    parser.add_argument("--repeats", type=int, default=4, help="alternations, default model")
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
        "| bundled linear, classify, every text's language identified (before) | "
        f"{rates['classify_exact']:,.0f} | {rates['classify_exact'] / seed:.2f} | - |",
        f"| input checks alone (`check_texts`) | {rates['checks']:,.0f} | "
        f"{rates['checks'] / seed:.2f} | - |",
        "| input checks alone, every text's language identified | "
        f"{rates['checks_exact']:,.0f} | {rates['checks_exact'] / seed:.2f} | - |",
    ]

    results: dict[str, list[dict[str, float]]] = {name: [] for name in RUNTIMES}
    names = list(RUNTIMES)
    for repeat in range(args.repeats):
        # each round starts one setting later, so that no setting always runs first or last
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            results[name].append(_child("default", args.texts, MOVIEGENRE_ORT=RUNTIMES[name]))
    lines += [
        "",
        f"The default model, fresh processes ({args.repeats} per setting, the order rotated "
        f"each round), predict_proba over the first {args.texts} test descriptions (best of "
        f"{PASSES} passes per process, after a warm-up batch); rates: median of the processes "
        "(best in brackets); busy: with a busy-loop process on one core; latency: one text per "
        "call, median of the processes:",
        "",
        "| ONNX Runtime session | quiet desc/s | busy desc/s | busy / quiet | "
        "busy / quiet of each process (range) | "
        "ms at concurrency 1 (p50) | ms at 32 (p50 / p95) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        quiet = statistics.median(r["quiet"] for r in runs)
        busy = statistics.median(r["busy"] for r in runs)
        best_quiet = max(r["quiet"] for r in runs)
        best_busy = max(r["busy"] for r in runs)
        p50_1 = statistics.median(r["p50_1"] for r in runs)
        p50_32 = statistics.median(r["p50_32"] for r in runs)
        p95_32 = statistics.median(r["p95_32"] for r in runs)
        each = [r["busy"] / r["quiet"] for r in runs]
        lines.append(
            f"| {name} | {quiet:.1f} ({best_quiet:.1f}) | {busy:.1f} ({best_busy:.1f}) | "
            f"{busy / quiet:.2f} | {min(each):.2f}-{max(each):.2f} | {p50_1:.1f} | "
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
