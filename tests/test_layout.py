"""The source layout of issue 23: the packages exist, and a long module says why it is long.

A module of more than ``MAX_LINES`` lines must start with a one-line comment giving the reason
(``# Long: ...``, before its docstring), so that a long file is a decision, not drift.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moviegenre"
MAX_LINES = 350
PACKAGES = ("data", "serve", "batch", "report", "models", "cli")


def long_without_reason(root: Path, max_lines: int = MAX_LINES) -> list[str]:
    """Files under ``root`` longer than ``max_lines`` lines whose first line is no comment."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > max_lines and not (lines and lines[0].startswith("# ") and lines[0][2:]):
            found.append(f"{path.relative_to(root)} ({len(lines)} lines)")
    return found


def test_the_rule_sees_a_long_file_and_its_reason(tmp_path):
    body = "x = 1\n" * 5
    (tmp_path / "short.py").write_text(body)
    (tmp_path / "long.py").write_text('"""Doc."""\n' + body)
    (tmp_path / "reasoned.py").write_text(
        "# Long: one state machine, split it and it hides.\n" + body
    )
    (tmp_path / "bare.py").write_text("#\n" + body)
    assert long_without_reason(tmp_path, max_lines=5) == ["bare.py (6 lines)", "long.py (6 lines)"]


def test_every_long_module_starts_with_its_reason():
    found = long_without_reason(PACKAGE)
    assert not found, (
        f"over {MAX_LINES} lines without a one-line '# reason' comment first: " + ", ".join(found)
    )


@pytest.mark.parametrize("name", PACKAGES)
def test_the_packages_exist(name):
    assert (PACKAGE / name / "__init__.py").is_file()
