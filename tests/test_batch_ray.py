"""--engine ray on a local Ray instance gives, row by row, the same file as --engine local."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import tiny_rows

from moviegenre.batch import BatchSettings, score_file

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'moviegenre[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray (2 CPUs, 200 MB object store) shared by this module's tests."""
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        ignore_reinit_error=True,
    )
    yield ray
    ray.shutdown()


def input_file(path: Path, n: int) -> Path:
    """A CSV with ids, some bad rows (wrong field count, too short) among good ones."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for rid, _, _, text in tiny_rows(n, seed=11):
            if int(rid) % 17 == 0:
                writer.writerow([f"r{rid}", "short text", "extra field"])
            elif int(rid) % 13 == 0:
                writer.writerow([f"r{rid}", "far too short"])
            else:
                writer.writerow([f"r{rid}", text])
    return path


@pytest.mark.slow
def test_ray_engine_matches_local_row_by_row(local_ray, tiny_classifier, tmp_path):
    data = input_file(tmp_path / "in.csv", 230)
    settings = BatchSettings(chunk_rows=40, top_k=3)
    local = score_file(tiny_classifier, data, tmp_path / "local.parquet", settings)
    remote = score_file(tiny_classifier, data, tmp_path / "ray.parquet", settings, engine="ray")
    a, b = pq.read_table(tmp_path / "local.parquet"), pq.read_table(tmp_path / "ray.parquet")
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist()
    assert (local.rows, local.errors, local.chunks) == (remote.rows, remote.errors, remote.chunks)
    assert remote.errors == 13 + 16  # rows 17k (13 of them) and 13k but not 17k (16)
    assert not (tmp_path / "ray.parquet.parts").exists()


@pytest.mark.slow
def test_ray_engine_matches_local_for_a_multi_label_model(
    local_ray, tiny_multi_classifier, tmp_path
):
    """The multi-label columns (``labels``, a recall ``genre_set``) come back from Ray too."""
    data = input_file(tmp_path / "in.csv", 60)
    settings = BatchSettings(chunk_rows=25, top_k=2, recall=0.9)
    score_file(tiny_multi_classifier, data, tmp_path / "local.parquet", settings)
    score_file(tiny_multi_classifier, data, tmp_path / "ray.parquet", settings, engine="ray")
    a, b = pq.read_table(tmp_path / "local.parquet"), pq.read_table(tmp_path / "ray.parquet")
    assert a.schema == b.schema and {"labels", "genre_set"} <= set(a.column_names)
    assert a.to_pylist() == b.to_pylist()
    assert (
        a.column("labels").null_count == a.column("error").length() - a.column("error").null_count
    )


@pytest.mark.slow
def test_ray_resumes_a_run_the_local_engine_started(local_ray, tiny_classifier, tmp_path):
    data = input_file(tmp_path / "in.csv", 100)
    settings = BatchSettings(chunk_rows=30, output_format="kaggle")
    score_file(tiny_classifier, data, tmp_path / "ref.csv", settings)

    def stop(rows: int) -> None:
        if rows >= 30:
            raise KeyboardInterrupt

    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop)
    summary = score_file(tiny_classifier, data, out, settings, engine="ray")
    assert summary.resumed_rows == 30 and summary.rows == 100
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_an_unreachable_ray_cluster_is_a_connection_error_not_a_write_error(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    """RAY_ADDRESS names a cluster that does not answer: Ray raises ConnectionError (an
    OSError), which was told as "cannot write out.csv ... free space"."""
    from moviegenre.cli import main

    def unreachable(*args, **kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.255.255.1:6379")

    monkeypatch.setenv("RAY_ADDRESS", "10.255.255.1:6379")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", unreachable)
    data = input_file(tmp_path / "in.csv", 6)
    argv = ["score", "-m", str(tiny_model_dir), "--input", str(data), "--engine", "ray"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--output", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()  # the progress bar shares stderr with the one error line
    assert exited.value.code == 2 and [x for x in lines if x.startswith("error:")] == [lines[-1]]
    assert "cannot connect to the Ray cluster at RAY_ADDRESS=10.255.255.1:6379 (Failed" in err
    assert "cannot write" not in err and "free space" not in err
