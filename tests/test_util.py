"""_util: the one atomic write and the one optional-dependency check."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

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


@pytest.mark.parametrize(
    ("n_rows", "n_columns", "n"), [(1, 1, 0), (5, 7, 40), (64, 300_000, 5_000)]
)
def test_count_matrix_is_scipys_summed_coo_matrix(n_rows, n_columns, n):
    """The same canonical CSR (indptr, sorted indices, float32 counts) as scipy builds."""
    import numpy as np
    from scipy import sparse

    from moviegenre._util import count_matrix

    rng = np.random.default_rng(n)
    rows = np.sort(rng.integers(0, n_rows, n))  # rows in order, as the callers give them
    columns = rng.integers(0, min(n_columns, 50), n) * (n_columns // min(n_columns, 50))
    ours = count_matrix(rows, columns, (n_rows, n_columns))
    theirs = sparse.coo_matrix(
        (np.ones(n, dtype=np.float32), (rows, columns)), shape=(n_rows, n_columns)
    ).tocsr()
    theirs.sum_duplicates()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name


def test_install_hints_and_model_requirements_come_from_one_table():
    """Issue 23: one table of optional modules; the pip hints and the modules a model file may
    name in ``requires`` (the load check) are both read from it."""
    from moviegenre import _util
    from moviegenre.serialization import KNOWN_REQUIREMENTS

    table = _util.OPTIONAL_MODULES
    assert {m: extra for m, (extra, _) in table.items()} == _util.EXTRAS
    assert KNOWN_REQUIREMENTS == _util.MODEL_REQUIREMENTS
    assert set(KNOWN_REQUIREMENTS) == {m for m, (_, allowed) in table.items() if allowed}
    assert set(KNOWN_REQUIREMENTS) <= set(_util.EXTRAS)  # each refusal can name its extra
    assert "ray" not in KNOWN_REQUIREMENTS and "torch" in KNOWN_REQUIREMENTS


def test_sha256_file_is_the_one_file_digest(tmp_path):
    import hashlib

    from moviegenre._util import sha256_file

    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert sha256_file(path) == hashlib.sha256(b"x" * 3_000_000).hexdigest()


# -- every file write goes through atomic_write ---------------------------------------------

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "moviegenre"
#: Calls that write a file by name; ``save`` only as ``np.save`` / ``onnx.save`` / ``torch.save``.
WRITERS = {"write_text", "write_bytes", "savefig", "write_table"}
SAVERS = {"np", "numpy", "onnx", "torch"}
#: Names bound to atomic_write's temporary file (``as tmp``) or a handle opened on it.
TEMPORARY = {"tmp", "handle", "fh", "out", "writer"}
#: (module, function) allowed to write outside atomic_write, and why.
DIRECT_WRITES = {
    ("_util.py", "atomic_write"): "is the atomic write",
    ("store.py", "write_table"): "its one caller (write_part) passes atomic_write's tmp",
    ("ray.py", "__init__"): "a Ray worker's private mkdtemp() copy of the model",
    ("ray.py", "_stage"): "input chunks in a TemporaryDirectory only this run reads",
    ("build.py", "_out_dir"): "a zero-byte probe that --out is writable, unlinked at once",
}


def _writes_outside_tmp(tree: ast.AST) -> list[tuple[str, int, str]]:
    """(function, line, call) of each file-writing call that neither is made on nor names
    ``tmp`` (what every ``with atomic_write(...) as tmp`` binds) or a handle opened on it."""
    found = []

    def mode_of(call: ast.Call) -> object:
        modes = [a.value for a in call.args if isinstance(a, ast.Constant)]
        modes += [
            k.value.value
            for k in call.keywords
            if k.arg == "mode" and isinstance(k.value, ast.Constant)
        ]
        return modes[0] if modes else "r"

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, receiver = node.func.attr, node.func.value
            mode = mode_of(node)
            writes = (
                attr in WRITERS
                or (attr == "save" and isinstance(receiver, ast.Name) and receiver.id in SAVERS)
                or (attr == "open" and isinstance(mode, str) and bool(set(mode) & set("wax")))
            )
            names = {n.id for n in ast.walk(receiver) if isinstance(n, ast.Name)}
            for arg in node.args:
                names |= {n.id for n in ast.walk(arg) if isinstance(n, ast.Name)}
            if writes and not names & TEMPORARY:
                found.append((function, node.lineno, ast.unparse(node.func)))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return found


def test_every_file_write_in_the_package_goes_through_atomic_write():
    """A write straight to its final path leaves a half-written file after a full disk or a
    Ctrl-C; each must write atomic_write's temporary file, or be listed in DIRECT_WRITES."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function, line, call in _writes_outside_tmp(tree):
            if (path.name, function) not in DIRECT_WRITES:
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} {function}: {call}")
    assert offenders == []
