"""The README stays true: its commands match CI, its Python examples print what it shows, its
shell commands run, and its API example shows what the server answers.

Convention (README, "Development"): every ```python block is run, each in a fresh namespace
in an empty folder, and what it prints must equal the ```text block right after it (a block
with no ```text block must print nothing). ``../shared/data/`` in a block means the shared
data beside the project root; such a block is skipped with a reason when that is absent.

Every command of every ```bash block is checked, by kind (an unknown kind fails):
- ``moviegenre ...`` runs, in-process, in a folder holding small files under the README's
  names (``train_data.txt``, ``catalogue.csv``, ...: the tiny generated data of conftest) and
  a tiny linear model as ``models/mine``; it must exit 0, and ``--json`` output must parse.
  Each command runs alone; one whose ``--model`` folder an earlier example writes (e.g. an
  exported copy) runs that example first. A README example reading a new file name needs a
  line in ``_readme_files``.
  Commands without ``--model`` use the bundled default, as a user's would. ``--kind blend``
  trains on the tiny random BERT standing in for MiniLM (slow: ~40 s on 2 busy cores).
- The servers (``serve``, ``app``) and ``--engine ray`` are only parsed (options and values
  valid): they run until stopped or need a Ray cluster; tests/test_cli.py starts both servers
  and tests/test_batch_ray.py runs the Ray engine.
- ``pip install`` lines must name extras that pyproject.toml defines; ``ruff`` and ``pytest``
  are CI's own command (test_ci_runs_exactly_the_readme_test_command).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shlex
import shutil
import tomllib
import warnings
from pathlib import Path

import pytest

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHARED = "../shared/data/"
SHARED_DIR = ROOT.parent / "shared" / "data"


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def python_examples(text: str) -> list[tuple[str, str]]:
    """(code, printed output) of each ```python block; the output is the ```text block that
    follows it (only blank lines between), else ""."""
    pattern = r"```python\n(.*?)```\n(?:\s*\n)*(?:```text\n(.*?)```)?"
    return [(code, shown or "") for code, shown in re.findall(pattern, text, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    install_and_run, test_command = (b.strip() for b in _bash_blocks(quick)[:2])
    assert install_and_run == "pip install -e . && moviegenre predict --examples --top-k 3"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci, "README test command and .ci/run have drifted apart"


def test_bundled_model_card_exists():
    card = ROOT / "src" / "moviegenre" / "pretrained" / "MODEL_CARD.md"
    assert card.is_file() and "moviegenre train" in card.read_text(encoding="utf-8")


def test_the_readme_has_python_examples_with_output():
    examples = python_examples(README)
    assert len(examples) >= 5 and sum(bool(shown) for _, shown in examples) >= 5


@pytest.mark.parametrize(
    ("code", "shown"),
    python_examples(README),
    ids=lambda value: value.splitlines()[0][:40] if "\n" in value else None,
)
def test_readme_python_example(code, shown, tmp_path, monkeypatch):
    if SHARED in code:
        if not SHARED_DIR.is_dir():
            pytest.skip(f"the example reads the shared data, absent here ({SHARED_DIR})")
        code = code.replace(SHARED, f"{SHARED_DIR}/")
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. duplicate rows in the shared data
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert printed.getvalue() == shown


# -- shell examples ----------------------------------------------------------------------------


def shell_commands(text: str) -> list[list[str]]:
    """The commands of every ```bash block as argument lists: continuation lines joined,
    comments dropped, ``a && b`` split in two (leading ``NAME=value`` words stay)."""
    commands = []
    for block in _bash_blocks(text):
        for line in block.replace("\\\n", "").splitlines():
            words, current = shlex.split(line, comments=True), []
            for word in [*words, "&&"] if words else []:
                if word == "&&":
                    commands.append(current)
                    current = []
                else:
                    current.append(word)
    return commands


def _readme_files(folder: Path, tiny_model_dir: Path) -> None:
    """The files the README's commands name, small: tiny labelled/unlabelled IMDb files, a
    Kaggle CSV, a CSV of genre lists, a catalogue CSV and Parquet file, and ``models/mine``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.conftest import _write_imdb, tiny_multi_rows, tiny_rows

    _write_imdb(folder / "train_data.txt", tiny_rows(60, seed=0), labelled=True)
    _write_imdb(folder / "test_data.txt", tiny_rows(12, seed=1), labelled=False)
    _write_imdb(folder / "test_data_solution.txt", tiny_rows(12, seed=1), labelled=True)
    _write_imdb(folder / "held_out_labelled.txt", tiny_rows(25, seed=3), labelled=True)
    with (folder / "more.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "genre", "text"])
        writer.writerows((title, genre, text) for _, title, genre, text in tiny_rows(20, seed=2))
    with (folder / "genres.csv").open("w", encoding="utf-8", newline="") as fh:  # genre lists
        writer = csv.writer(fh)
        writer.writerow(["name", "genre", "text"])
        texts, sets = tiny_multi_rows(90, seed=7)
        writer.writerows(
            (f"film {i}", ", ".join(g), t) for i, (t, g) in enumerate(zip(texts, sets, strict=True))
        )
    rows = tiny_rows(8, seed=4)
    with (folder / "catalogue.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("id", "text"), *((r[0], r[3]) for r in rows)])
    films = {"tconst": [f"tt{r[0]:0>7}" for r in rows], "plot": [r[3] for r in rows]}
    pq.write_table(pa.table(films), folder / "films.parquet")
    shutil.copytree(tiny_model_dir, folder / "models" / "mine")


def _kind(words: list[str]) -> str:
    """How a README command is checked: run, parse, install or ci (see the module docstring)."""
    program = next(w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w))
    if program == "moviegenre":
        server = words[words.index(program) + 1] in ("serve", "app")
        return "parse" if server or "ray" in words else "run"
    return {"pip": "install", "ruff": "ci", "python": "ci"}.get(program, "unknown")


SHELL = shell_commands(README)


def _slow_if_blend(words: list[str]) -> object:
    marks = [pytest.mark.slow] if "blend" in words else []
    return pytest.param(words, marks=marks, id=" ".join(words)[:70])


def test_the_readme_has_shell_examples_of_each_kind():
    kinds = [_kind(words) for words in SHELL]
    assert "unknown" not in kinds, [w for w in SHELL if _kind(w) == "unknown"]
    assert kinds.count("run") >= 15 and {"parse", "install", "ci"} <= set(kinds)


@pytest.mark.parametrize("words", [_slow_if_blend(w) for w in SHELL if _kind(w) == "run"])
def test_readme_shell_command_runs(words, tiny_model_dir, tmp_path, monkeypatch, capsys, request):
    _readme_files(tmp_path, tiny_model_dir)
    monkeypatch.chdir(tmp_path)
    argv = words[words.index("moviegenre") + 1 :]
    if argv[0] == "train":  # it writes the model the other commands read: start without it
        shutil.rmtree(tmp_path / argv[argv.index("--out") + 1], ignore_errors=True)
    for earlier in _makers_of_its_model(words):  # e.g. the command that wrote --model DIR
        code, _, err = _run_cli(earlier[earlier.index("moviegenre") + 1 :], monkeypatch, request)
        assert code == 0, f"{shlex.join(earlier)}, run first to make the model: {err}"
        capsys.readouterr()
    code, out, err = _run_cli(argv, monkeypatch, request)
    assert code == 0, err
    if "--json" in argv:
        document = json.loads(out)
        results = document["results"] if isinstance(document, dict) else []
        assert all(r["error"] is None for r in results)


def _makers_of_its_model(words: list[str], commands: list[list[str]] = SHELL) -> list[list[str]]:
    """The README's last command before ``words`` that names the folder ``words`` passes as
    --model, other than as its own --model (so it wrote it), when that folder is not one of
    the files _readme_files provides (e.g. a model an earlier example writes), else nothing.
    Examples run alone, so such a command runs first."""
    if "--model" not in words:
        return []
    target = words[words.index("--model") + 1]
    if target in ("models/mine", "linear", "blend") or target.startswith("path/"):
        return []
    runs = [w for w in commands if _kind(w) == "run"]
    earlier = [w for w in runs[: runs.index(words)] if target in w and not _reads(w, target)]
    return earlier[-1:]


def _reads(words: list[str], folder: str) -> bool:
    """Whether a command only reads ``folder`` as its --model (so it did not write it)."""
    return any(a == "--model" and b == folder for a, b in zip(words, words[1:], strict=False))


def test_a_command_on_a_model_an_earlier_example_writes_runs_that_example_first():
    export = ["moviegenre", "export", "linear", "models/copy"]
    calibrate = ["moviegenre", "calibrate", "--model", "models/copy", "--data", "x.txt"]
    mine = ["moviegenre", "calibrate", "--model", "models/mine", "--data", "x.txt"]
    commands = [export, ["moviegenre", "models"], calibrate, mine]
    assert _makers_of_its_model(calibrate, commands) == [export]
    assert _makers_of_its_model(mine, commands) == [] == _makers_of_its_model(export, commands)
    again = ["moviegenre", "evaluate", "--model", "models/copy", "--data", "x.txt"]
    assert _makers_of_its_model(again, [*commands, again]) == [export]  # not the calibrate


def _run_cli(argv: list[str], monkeypatch, request) -> tuple[int, str, str]:
    if "blend" in argv:
        _tiny_bert_as_minilm(request.getfixturevalue("tiny_backbone_dir"), monkeypatch)
    return run_cli(argv, request.getfixturevalue("capsys"))


def _tiny_bert_as_minilm(folder: Path, monkeypatch) -> None:
    """The tiny random BERT answers for MiniLM (its 128 positions hold the 30-word texts)."""
    from moviegenre.models.backbone import BACKBONES, DEFAULT_BACKBONE, BackboneSpec

    # ``folder`` is the importable package tiny_bert (the tiny_backbone_dir fixture)
    spec = BackboneSpec(DEFAULT_BACKBONE, folder.name, "tiny-bert", 32, 512)
    monkeypatch.setitem(BACKBONES, DEFAULT_BACKBONE, spec)


@pytest.mark.parametrize(
    "words", [pytest.param(w, id=" ".join(w)[:70]) for w in SHELL if _kind(w) == "parse"]
)
def test_readme_server_and_ray_commands_parse(words):
    import typer

    from moviegenre.cli._base import app

    argv = words[words.index("moviegenre") + 1 :]
    command = typer.main.get_command(app).commands[argv[0]]  # type: ignore[attr-defined]
    with command.make_context(argv[0], argv[1:]) as context:  # click refuses a bad option
        assert context.params


def test_readme_pip_lines_name_real_extras():
    extras = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    named = [
        extra
        for words in SHELL
        if _kind(words) == "install"
        for word in words
        for group in re.findall(r"\[([\w,]+)\]", word)
        for extra in group.split(",")
    ]
    assert len(named) >= 4 and set(named) <= extras


def test_readme_ci_commands_are_ci_s():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for words in SHELL:
        if _kind(words) == "ci":
            assert shlex.join(words) in ci


# -- the API example -------------------------------------------------------------------------------


def _api_example() -> tuple[list[str], str]:
    """The README's ```console example: the curl command's words and the JSON it shows."""
    [block] = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    command, _, shown = block.partition("\n    ")[2].partition(" | python -m json.tool\n")
    first = block.split("\n", 1)[0].removeprefix("$ ").removesuffix("\\")
    return shlex.split(first + command.replace("\\\n", "")), shown


def _assert_close(got: object, shown: object, where: str = "") -> None:
    """Equal documents, floats within 1e-5 (ONNX Runtime's kernels differ a little by CPU)."""
    if isinstance(shown, float) and isinstance(got, float):
        assert abs(got - shown) <= 1e-5, f"{where}: the server says {got}, the README {shown}"
    elif isinstance(shown, dict) and isinstance(got, dict):
        assert list(got) == list(shown), f"{where}: keys {list(got)} != {list(shown)}"
        for key in shown:
            _assert_close(got[key], shown[key], f"{where}.{key}")
    elif isinstance(shown, list) and isinstance(got, list):
        assert len(got) == len(shown), f"{where}: {len(got)} items != {len(shown)}"
        for i, (a, b) in enumerate(zip(got, shown, strict=True)):
            _assert_close(a, b, f"{where}[{i}]")
    else:
        assert got == shown, f"{where}: the server says {got!r}, the README {shown!r}"


def test_readme_api_example_is_what_the_server_answers():
    pytest.importorskip("fastapi")
    from urllib.parse import urlparse

    from fastapi.testclient import TestClient

    from moviegenre import GenreClassifier
    from moviegenre.serve.api import create_app

    words, shown = _api_example()
    assert words[:2] == ["curl", "-s"] and shown == json.dumps(json.loads(shown), indent=4) + "\n"
    body = json.loads(words[words.index("-d") + 1])
    path = urlparse(next(w for w in words if w.startswith("http://"))).path
    with TestClient(create_app(GenreClassifier.load())) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200
    _assert_close(response.json(), json.loads(shown))
