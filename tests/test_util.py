"""_util: the one atomic write and the one optional-dependency check."""

from __future__ import annotations

import sys

import pytest

from moviegenre._util import atomic_write, install_hint, missing_modules, require
from moviegenre.errors import MissingDependencyError


def test_atomic_write_replaces_the_file_only_on_success(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and sorted(tmp_path.iterdir()) == [path]
    with atomic_write(path) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new" and sorted(tmp_path.iterdir()) == [path]


def test_concurrent_writers_of_one_file_never_share_a_temporary_file(tmp_path):
    """Two writers of the same path (two processes exporting one graph) each get their own
    temporary file, so neither writes into the other's; the last to finish wins whole."""
    path = tmp_path / "model.onnx"
    with atomic_write(path) as first, atomic_write(path) as second:
        assert first != second
        first.write_text("first")
        second.write_text("second")
    assert path.read_text() == "first" and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize(
    ("module", "extra"),
    [("torch", "encoder"), ("tokenizers", "encoder"), ("ray.data", "ray"), ("wordcloud", "report")],
)
def test_require_names_the_extra_never_a_bare_pip_install(monkeypatch, module, extra):
    for name in {module.split(".")[0], module}:  # as if not installed (even if imported)
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=rf'pip install "moviegenre\[{extra}\]"') as e:
        require(module, purpose="this test")
    assert f"pip install {module}" not in str(e.value) and "this test needs" in str(e.value)
    assert missing_modules(module, "json") == [module]
    assert install_hint([module]).startswith(f'pip install "moviegenre[{extra}]"')
