"""The benchmarks share one setup (benchmarks/_setup.py: the shared data's place, loading) and
one appender (benchmarks/_results.py): no script defines the data path or writes RESULTS.md
by itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def test_there_are_benchmark_scripts_to_check():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_takes_its_data_from_setup_and_appends_through_results(script):
    source = script.read_text(encoding="utf-8")
    tree = ast.parse(source)
    assigned = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert not assigned & {"DATA", "SHARED", "ROOT", "RESULTS"}, "defined in _setup/_results"
    assert '"shared"' not in source, "the shared data's place is _setup.DATA"
    writes = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"open", "write_text"}
        and "RESULTS" in ast.unparse(node.func.value)
    ]
    assert writes == [], "RESULTS.md is appended to by _results.append_results only"
