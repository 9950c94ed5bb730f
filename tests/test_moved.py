"""Tests for moviegenre._moved: every old module path of issue 23 still imports, warns with the
new path, and is the new module itself (not a copy); nothing else is answered."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from moviegenre._moved import ALIASES, AliasFinder, install

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moviegenre"


@pytest.mark.parametrize(("old", "new"), sorted(ALIASES.items()))
def test_an_old_path_warns_and_is_the_new_module(old, new, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}") as caught:
        exec(compile(f"import {old}", __file__, "exec"), {})  # an import statement here
    module = sys.modules[old]
    assert module is importlib.import_module(new)
    assert module.__name__ == new and module.__spec__.name == new  # it still says where it is
    assert caught[0].filename == __file__  # the warning points at the importing line


@pytest.mark.parametrize(("old", "new"), sorted(ALIASES.items()))
def test_an_alias_names_a_real_module_and_no_file_is_left_behind(old, new):
    """The old file is gone (so git follows the rename) and the new one exists."""
    assert not PACKAGE.joinpath(*old.split(".")[1:]).with_suffix(".py").exists()
    assert importlib.util.find_spec(new) is not None


def test_the_finder_answers_only_its_names():
    finder = AliasFinder()
    assert finder.find_spec("moviegenre.api") is not None
    assert finder.find_spec("moviegenre.nonsense") is None
    assert finder.find_spec("api") is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("moviegenre.nonsense")


def test_install_adds_one_finder():
    install()
    install()
    assert sum(isinstance(f, AliasFinder) for f in sys.meta_path) == 1


def test_old_from_imports_work_in_a_fresh_interpreter():
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "try:\n    from moviegenre.split import stratified_split\n"
        "except DeprecationWarning as w:\n    print(w)\n"
        "warnings.simplefilter('ignore')\n"
        "from moviegenre.split import stratified_split\n"
        "from moviegenre.data.split import stratified_split as same\n"
        "print(stratified_split is same)\n"
    )
    env = {"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == [
        "moviegenre.split moved to moviegenre.data.split; import it from there (the old path "
        "goes in moviegenre 0.3)",
        "True",
    ]
