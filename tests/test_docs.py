"""The README's commands and CI stay in step."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    install_and_run, test_command = (b.strip() for b in _bash_blocks(quick)[:2])
    assert "moviegenre predict" in install_and_run
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci, "README test command and .ci/run have drifted apart"


def test_bundled_model_card_exists():
    card = ROOT / "src" / "moviegenre" / "pretrained" / "MODEL_CARD.md"
    assert card.is_file() and "moviegenre train" in card.read_text(encoding="utf-8")
