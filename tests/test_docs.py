"""The README stays true: its commands match CI, and its Python examples print what it shows.

Convention (README, "Development"): every ```python block is run, each in a fresh namespace
in an empty folder, and what it prints must equal the ```text block right after it (a block
with no ```text block must print nothing). ``../shared/data/`` in a block means the shared
data beside the project root; such a block is skipped with a reason when that is absent.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

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
