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
