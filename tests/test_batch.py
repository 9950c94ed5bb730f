"""Batch scoring: output layouts, error rows, file errors, resume after Ctrl-C and SIGKILL."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import (
    all_exit_within,
    children_of,
    run_cli,
    tiny_multi_dataset,
    tiny_multi_rows,
    tiny_rows,
)

from moviegenre import ConfigError, DataError, GenreClassifier, MissingDependencyError
from moviegenre.batch import BatchSettings, score_file
from moviegenre.batch.store import ResumeWarning
from moviegenre.cli import main


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("id", "text")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def described(n: int, seed: int = 7) -> list[list[str]]:
    return [[f"m{rid}", text] for rid, _, _, text in tiny_rows(n, seed)]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Stop(Exception):
    """Raised from on_chunk to simulate Ctrl-C part-way through a run."""


def stop_after(chunks: int, chunk_rows: int):
    def on_chunk(rows: int) -> None:
        if rows >= chunks * chunk_rows:
            raise Stop

    return on_chunk


# -- layouts -------------------------------------------------------------------------------------


def test_wide_csv_keeps_file_ids_and_top_k_columns(tiny_classifier, tiny_imdb_test, tmp_path):
    out = tmp_path / "scores.csv"
    summary = score_file(tiny_classifier, tiny_imdb_test, out, BatchSettings(top_k=2, chunk_rows=5))
    rows = read_csv(out)
    assert summary.rows == 12 and summary.chunks == 3 and summary.errors == 0
    assert list(rows[0]) == [
        *("id", "genre", "probability", "genre_2", "probability_2", "truncated", "error")
    ]
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 13)]
    assert all(float(r["probability"]) >= float(r["probability_2"]) for r in rows)
    assert not (tmp_path / "scores.csv.parts").exists()


def test_kaggle_format_is_exactly_id_genre(tiny_classifier, tiny_imdb_test, tmp_path):
    out = tmp_path / "submission.csv"
    score_file(tiny_classifier, tiny_imdb_test, out, BatchSettings(output_format="kaggle"))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,genre" and len(lines) == 13
    assert all(len(line.split(",")) == 2 for line in lines)


def test_parquet_output_and_row_numbers_without_id_column(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", [[t] for _, t in described(7)], header=("text",))
    out = tmp_path / "scores.parquet"
    score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=3, top_k=3))
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == [str(i) for i in range(1, 8)]
    assert table.schema.field("probability_3").type == pa.float64()
    assert table.column("error").null_count == 7


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_jsonl_output_holds_the_parquet_rows_as_objects(tiny_classifier, tmp_path):
    rows = [*described(5), ["=1+1", "too short"]]
    data = write_csv(tmp_path / "in.csv", rows)
    settings = BatchSettings(chunk_rows=2, top_k=2)
    score_file(tiny_classifier, data, tmp_path / "out.parquet", settings)
    summary = score_file(tiny_classifier, data, out := tmp_path / "out.jsonl", settings)
    assert summary.rows == 6 and summary.chunks == 3
    assert read_jsonl(out) == pq.read_table(tmp_path / "out.parquet").to_pylist()
    last = read_jsonl(out)[-1]
    assert last["id"] == "=1+1" and last["genre"] is None and "at least 20" in last["error"]
    assert isinstance(read_jsonl(out)[0]["probability"], float)


def test_parquet_and_jsonl_inputs_give_the_same_scores(tiny_classifier, tmp_path):
    rows = described(9)
    pq.write_table(
        pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}),
        p := tmp_path / "in.parquet",
    )
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    score_file(tiny_classifier, p, tmp_path / "a.csv", BatchSettings(chunk_rows=4))
    score_file(tiny_classifier, jsonl, tmp_path / "b.csv", BatchSettings(chunk_rows=4))
    assert read_csv(tmp_path / "a.csv") == read_csv(tmp_path / "b.csv")


# -- bad rows and bad files ----------------------------------------------------------------------


def test_bad_rows_are_written_with_an_error_not_dropped(tiny_classifier, tmp_path):
    rows = described(4)
    data = tmp_path / "in.csv"
    write_csv(data, rows[:2])
    with data.open("a", encoding="utf-8") as handle:
        handle.write("m-bad,too,many,fields\n")
        handle.write("m-short,a far too short description\n")
        handle.write(f"{rows[2][0]},{rows[2][1]}\n")
    out = tmp_path / "scores.csv"
    summary = score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=2))
    result = read_csv(out)
    # A row whose id cannot be read gets "" (a made-up row number could be another row's id).
    assert [r["id"] for r in result] == ["m1", "m2", "", "m-short", "m3"]
    assert summary.rows == 5 and summary.errors == 2
    assert "line 4: wrong number of fields: expected 2" in result[2]["error"]
    assert result[2]["genre"] == "" and result[2]["probability"] == ""
    assert "at least 20 are needed" in result[3]["error"]
    assert result[4]["error"] == "" and result[4]["genre"]


def test_empty_file_is_refused(tiny_classifier, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="file is empty"):
        score_file(tiny_classifier, empty, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv.parts").exists()


def test_header_only_file_gives_a_header_only_output(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", [])
    summary = score_file(tiny_classifier, data, tmp_path / "out.csv")
    assert summary.rows == 0
    header = (tmp_path / "out.csv").read_text().splitlines()
    assert header == ["id,genre,probability,truncated,error"]


def test_missing_text_column_is_refused_before_writing(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", [["1", "x"]], header=("id", "body"))
    with pytest.raises(DataError, match="missing column: no text column found"):
        score_file(tiny_classifier, data, tmp_path / "out.csv")
    with pytest.raises(DataError, match="missing column 'plot'"):
        score_file(tiny_classifier, data, tmp_path / "out.csv", BatchSettings(text_col="plot"))
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.parts").exists()


def test_unreadable_parquet_is_refused(tiny_classifier, tmp_path):
    bad = tmp_path / "in.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(DataError, match="unreadable Parquet file"):
        score_file(tiny_classifier, bad, tmp_path / "out.csv")


def test_bad_settings_are_refused(tiny_classifier, tiny_imdb_test, tmp_path):
    with pytest.raises(ConfigError, match="unknown output type '.txt'"):
        score_file(tiny_classifier, tiny_imdb_test, tmp_path / "out.txt")
    with pytest.raises(ConfigError, match="engine 'spark' is unknown"):
        score_file(tiny_classifier, tiny_imdb_test, tmp_path / "o.csv", engine="spark")
    with pytest.raises(ConfigError, match="output format 'wild' is unknown"):
        BatchSettings(output_format="wild")
    with pytest.raises(ConfigError, match="chunk_rows must be >= 1"):
        BatchSettings(chunk_rows=0)
    with pytest.raises(ConfigError, match="top_k must be at most 5, got 6"):
        score_file(tiny_classifier, tiny_imdb_test, tmp_path / "o.csv", BatchSettings(top_k=6))
    assert not (tmp_path / "o.csv.parts").exists()


def test_ray_engine_without_ray_names_the_extra(
    tiny_classifier, tiny_imdb_test, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "moviegenre\[ray\]"'):
        score_file(tiny_classifier, tiny_imdb_test, tmp_path / "o.csv", engine="ray")


@pytest.mark.slow
def test_worker_processes_give_the_same_file(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", described(50))
    settings = BatchSettings(chunk_rows=8, top_k=2)
    score_file(tiny_classifier, data, tmp_path / "one.csv", settings)
    unsaved = GenreClassifier.from_model(tiny_classifier.model)  # the pool saves it first
    summary = score_file(unsaved, data, tmp_path / "two.csv", settings, workers=2)
    assert summary.rows == 50 and summary.chunks == 7
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    with pytest.raises(ConfigError, match="workers must be >= 1, got 0"):
        score_file(tiny_classifier, data, tmp_path / "x.csv", workers=0)


# -- resume --------------------------------------------------------------------------------------


def test_interrupted_run_resumes_and_matches_an_uninterrupted_one(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", described(23))
    settings = BatchSettings(chunk_rows=5, top_k=2)
    score_file(tiny_classifier, data, tmp_path / "ref.csv", settings)
    out = tmp_path / "out.csv"
    with pytest.raises(Stop):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(2, 5))
    manifest = json.loads((tmp_path / "out.csv.parts" / "manifest.json").read_text())
    assert sorted(manifest["parts"]) == ["0", "1"] and not out.exists()
    summary = score_file(tiny_classifier, data, out, settings)
    assert summary.resumed_rows == 10 and summary.rows == 23
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_resume_refuses_a_different_input_model_or_settings(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", described(12))
    out = tmp_path / "out.parquet"
    with pytest.raises(Stop):
        score_file(
            tiny_classifier, data, out, BatchSettings(chunk_rows=4), on_chunk=stop_after(1, 4)
        )
    with pytest.raises(ConfigError, match="run with different settings .*top_k: was 1, now 2"):
        score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=4, top_k=2))
    # An unsaved classifier is fingerprinted by its in-memory state, not model.json's sha256.
    other = GenreClassifier.from_model(tiny_classifier.model)
    with pytest.raises(ConfigError, match="run with a different model .*--overwrite"):
        score_file(other, data, out, BatchSettings(chunk_rows=4))
    write_csv(data, described(12, seed=8))
    with pytest.raises(ConfigError, match="unfinished run with a different input file"):
        score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=4))
    summary = score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=4), overwrite=True)
    assert summary.resumed_rows == 0 and pq.read_table(out).num_rows == 12


def test_an_edit_past_the_first_mib_keeping_size_and_mtime_is_scored_again(
    tiny_classifier, tmp_path
):
    """Issue 19: the input fingerprint reads the size, the mtime and the first MiB only. Two
    texts swapped past the first MiB, mtime restored: the resumed parts were reused with their
    old scores. Parts now hold the sha256 of the rows they were scored from."""
    rows = described(5000)
    data = write_csv(tmp_path / "in.csv", rows)
    settings = BatchSettings(chunk_rows=1000, check=False)
    out = tmp_path / "out.csv"
    with pytest.raises(Stop):  # every part written, the join not yet
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(5, 1000))
    before = data.stat()
    (a_id, a), (b_id, b) = rows[-2], rows[-1]  # two genres in the last chunk
    raw = data.read_bytes()
    assert raw.index(a.encode()) > 1 << 20 and len(a) != len(b)
    rows[-2], rows[-1] = [a_id, b], [b_id, a]
    write_csv(data, rows)
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert data.stat().st_size == before.st_size and data.read_bytes()[: 1 << 20] == raw[: 1 << 20]
    summary = score_file(tiny_classifier, data, out, settings)
    assert summary.resumed_rows == 4000 and summary.rows == 5000
    score_file(tiny_classifier, data, tmp_path / "fresh.csv", settings)
    assert out.read_bytes() == (tmp_path / "fresh.csv").read_bytes()


@pytest.mark.parametrize(("field", "value"), [("rows", 3), ("rows", 5), ("rows_sha256", "0" * 64)])
def test_an_edited_manifest_count_is_checked_against_the_input(
    tiny_classifier, tmp_path, field, value
):
    """Issue 19: a part's row count edited in the manifest changed the summary ("7 from an
    earlier run"); the count must be that of the input chunk, else the chunk is scored again."""
    data = write_csv(tmp_path / "in.csv", described(12))
    settings = BatchSettings(chunk_rows=4)
    out = tmp_path / "out.csv"
    with pytest.raises(Stop):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(2, 4))
    path = tmp_path / "out.csv.parts" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["parts"]["0"][field] = value
    path.write_text(json.dumps(manifest))
    summary = score_file(tiny_classifier, data, out, settings)
    assert (summary.rows, summary.resumed_rows) == (12, 4)
    score_file(tiny_classifier, data, tmp_path / "fresh.csv", settings)
    assert out.read_bytes() == (tmp_path / "fresh.csv").read_bytes()


def test_a_temporary_file_of_a_killed_join_is_removed_by_the_next_run(tiny_classifier, tmp_path):
    """Issue 19: SIGKILL while the parts were joined left ``out.csv.<hex>.tmp`` (atomic_write's
    name) that the successful rerun never removed. Files of other shapes or outputs stay."""
    data = write_csv(tmp_path / "in.csv", described(8))
    settings = BatchSettings(chunk_rows=4)
    out = tmp_path / "out.csv"
    with pytest.raises(Stop):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(2, 4))
    stale = tmp_path / "out.csv.0123456789ab.tmp"  # what the killed join left
    stale.write_text("id,genre\nm1,")
    others = ["out.csv.notes.tmp", "out.csv.0123456789ab.tmp.bak", "in.csv.0123456789ab.tmp"]
    for name in others:
        (tmp_path / name).write_text("keep")
    assert score_file(tiny_classifier, data, out, settings).resumed_rows == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.csv", "out.csv", *others])


def test_a_finished_output_is_not_replaced_without_overwrite(
    tiny_classifier, tiny_imdb_test, tmp_path
):
    out = tmp_path / "out.csv"
    score_file(tiny_classifier, tiny_imdb_test, out)
    with pytest.raises(ConfigError, match="already exists .*pass --overwrite"):
        score_file(tiny_classifier, tiny_imdb_test, out)
    assert score_file(tiny_classifier, tiny_imdb_test, out, overwrite=True).rows == 12


# -- the command line ----------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "moviegenre.cli", "score", *args]


def run_main(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_scores_a_file_and_prints_errors_without_traceback(tiny_model_dir, tmp_path, capsys):
    data = write_csv(tmp_path / "in.csv", described(6))
    out = tmp_path / "out.parquet"
    args = ["score", "-m", str(tiny_model_dir), "--input", str(data), "--output", str(out)]
    assert run_main([*args, "--chunk-rows", "4"]) == 0
    assert "scored 6 rows (0 refused)" in capsys.readouterr().out
    assert pq.read_table(out).num_rows == 6
    assert run_main(args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err
    assert run_main([*args, "--overwrite", "--text-col", "plot"]) == 2
    assert "missing column 'plot'" in capsys.readouterr().err


#: `moviegenre ARGS` that stops after writing its first part (a callback wrapped around the part
#: store, in the child only) and waits on stdin, which the test never writes, until it is killed.
STALLED_CLI = """
import sys
from moviegenre.batch.store import PartStore
from moviegenre.cli import main

write_part = PartStore.write_part

def write_part_then_stall(self, *args, **kwargs):
    write_part(self, *args, **kwargs)
    sys.stdin.readline()

PartStore.write_part = write_part_then_stall
main(sys.argv[1:])
"""


def start_mid_run(command: list[str], out: Path) -> subprocess.Popen:
    """Start a `moviegenre score` that stalls after its first part; return once that is written.

    ``command`` is the `cli(...)` list; its stderr goes to OUT.err (a pipe nobody reads could
    fill up and stall it).
    """
    stalled = [sys.executable, "-c", STALLED_CLI, *command[3:]]
    with out.with_name(out.name + ".err").open("wb") as err:
        proc = subprocess.Popen(
            stalled, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
        )
    manifest = out.with_name(out.name + ".parts") / "manifest.json"
    deadline = time.monotonic() + 60
    while not (manifest.is_file() and json.loads(manifest.read_text() or "{}").get("parts")):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no part was written within 60 s")
        with pytest.raises(subprocess.TimeoutExpired):  # the poll interval; still running?
            proc.wait(timeout=0.02)
    return proc


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_every_id_once(tiny_model_dir, tmp_path):
    """Kill a real `moviegenre score` with SIGKILL after its first part, rerun, compare."""
    data = write_csv(tmp_path / "in.csv", described(400))
    args = ["-m", str(tiny_model_dir), "--input", str(data), "--chunk-rows", "20", "--top-k", "2"]
    ref, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    subprocess.run(cli(*args, "--output", str(ref)), check=True, capture_output=True)
    proc = start_mid_run(cli(*args, "--output", str(out)), out)
    manifest = tmp_path / "out.csv.parts" / "manifest.json"
    try:
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = json.loads(manifest.read_text())["parts"]
    assert len(done) == 1 and not out.exists()
    rerun = subprocess.run(
        cli(*args, "--output", str(out)), capture_output=True, text=True, check=True
    )
    assert "from an earlier run" in rerun.stdout
    got, want = read_csv(out), read_csv(ref)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)) == 400
    assert got == want
    assert not manifest.parent.exists()


def test_coverage_adds_a_genre_set_column(tiny_classifier, tiny_imdb_test, tmp_path):
    out = tmp_path / "scores.csv"
    score_file(tiny_classifier, tiny_imdb_test, out, BatchSettings(coverage=0.9, chunk_rows=5))
    rows = read_csv(out)
    assert list(rows[0]) == ["id", "genre", "probability", "genre_set", "truncated", "error"]
    assert all(r["genre_set"].split("|")[0] == r["genre"] for r in rows)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"coverage": 1.0}, "coverage must be strictly between 0 and 1"),
        ({"coverage": "0.9"}, "coverage must be a number"),
        ({"coverage": 0.9, "output_format": "kaggle"}, "needs the 'wide' format"),
    ],
)
def test_bad_coverage_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        BatchSettings(**settings)


def test_coverage_without_scores_fails_before_writing(tiny_classifier, tiny_imdb_test, tmp_path):
    from dataclasses import replace

    bare = GenreClassifier(tiny_classifier.model, replace(tiny_classifier.info, conformal=None))
    out = tmp_path / "scores.csv"
    with pytest.raises(ConfigError, match="no conformity scores"):
        score_file(bare, tiny_imdb_test, out, BatchSettings(coverage=0.9))
    assert not out.exists() and not (tmp_path / "scores.csv.parts").exists()


# -- damaged parts, manifests and output folders ------------------------------------------------


def damage(part: Path, how: str, other: Path) -> None:
    data = part.read_bytes()
    if how == "truncated":
        part.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        part.write_bytes(b"")
    elif how == "garbage":
        part.write_bytes(b"\x00garbage,not,a,part\n" * 3)
    else:  # copied over by another part
        shutil.copyfile(other, part)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("how", ["truncated", "emptied", "garbage", "copied"])
def test_a_damaged_finished_part_is_scored_again_on_resume(tiny_classifier, tmp_path, how, suffix):
    data = write_csv(tmp_path / "in.csv", described(23))
    settings = BatchSettings(chunk_rows=5, top_k=2)
    ref, out = tmp_path / f"ref{suffix}", tmp_path / f"out{suffix}"
    score_file(tiny_classifier, data, ref, settings)
    with pytest.raises(Stop):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(3, 5))
    parts = tmp_path / f"out{suffix}.parts"
    damage(parts / f"part-000001{suffix}", how, parts / f"part-000000{suffix}")
    with pytest.warns(ResumeWarning, match="part-000001.* does not match the manifest"):
        summary = score_file(tiny_classifier, data, out, settings)
    assert summary.rows == 23 and summary.resumed_rows == 10
    if suffix in (".csv", ".jsonl"):
        ids = [r["id"] for r in (read_csv(out) if suffix == ".csv" else read_jsonl(out))]
        assert out.read_bytes() == ref.read_bytes()
    else:
        ids = pq.read_table(out).column("id").to_pylist()
        assert pq.read_table(out).equals(pq.read_table(ref))
    assert sorted(ids) == sorted(f"m{i}" for i in range(1, 24))


def test_a_part_damaged_before_the_join_fails_loudly_then_resumes(tiny_classifier, tmp_path):
    data = write_csv(tmp_path / "in.csv", described(12))
    out = tmp_path / "out.csv"
    parts = tmp_path / "out.csv.parts"

    def truncate_first_part(rows: int) -> None:
        if rows == 12:  # the last chunk is written: damage an earlier part before the join
            damage(parts / "part-000000.csv", "truncated", parts / "part-000000.csv")

    with pytest.raises(ConfigError, match="part-000000.csv changed after it was written"):
        score_file(
            tiny_classifier, data, out, BatchSettings(chunk_rows=4), on_chunk=truncate_first_part
        )
    assert not out.exists() and not (tmp_path / "out.csv.tmp").exists()
    summary = score_file(tiny_classifier, data, out, BatchSettings(chunk_rows=4))
    assert summary.resumed_rows == 8
    ids = [r["id"] for r in read_csv(out)]
    assert ids == [f"m{i}" for i in range(1, 13)]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: [m], "a JSON list, not an object"),
        (lambda m: {k: v for k, v in m.items() if k != "settings"}, "no valid 'settings'"),
        (lambda m: {**m, "parts": []}, "'parts' is not an object"),
        (lambda m: {**m, "parts": {"0": "done"}}, "part 0 is str, not an object"),
        (lambda m: {**m, "parts": {"x": {}}}, "part key 'x' is not a number"),
        (lambda m: {**m, "parts": {"0": {"rows": "5"}}}, "part 0 has no valid 'rows'"),
    ],
)
def test_a_damaged_manifest_is_one_clear_error(tiny_model_dir, tmp_path, capsys, edit, message):
    data = write_csv(tmp_path / "in.csv", described(12))
    out = tmp_path / "out.csv"
    args = ["score", "-m", str(tiny_model_dir), "--input", str(data), "--output", str(out)]
    classifier = GenreClassifier.load(tiny_model_dir)
    with pytest.raises(Stop):
        score_file(classifier, data, out, BatchSettings(chunk_rows=4), on_chunk=stop_after(1, 4))
    manifest = tmp_path / "out.csv.parts" / "manifest.json"
    manifest.write_text(json.dumps(edit(json.loads(manifest.read_text()))))
    capsys.readouterr()
    assert run_main([*args, "--chunk-rows", "4"]) == 2
    err = capsys.readouterr().err
    assert message in err and "is damaged" in err and "--overwrite" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_read_only_output_folder_is_one_clear_error(tiny_model_dir, tmp_path, capsys):
    """/sys refuses new entries even to root (a chmod-ed folder does not stop root)."""
    data = write_csv(tmp_path / "in.csv", described(4))
    args = ["score", "-m", str(tiny_model_dir), "--input", str(data)]
    assert run_main([*args, "--output", "/sys/moviegenre-out.csv"]) == 2
    err = capsys.readouterr().err
    assert "cannot write /sys/moviegenre-out.csv.parts (" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_full_disk_at_the_join_leaves_no_temporary_file(tiny_model_dir, tmp_path, monkeypatch):
    data = write_csv(tmp_path / "in.csv", described(8))
    out = tmp_path / "out.csv"

    copy = shutil.copyfileobj

    def disk_full(src, dst, *args, **kwargs):
        # only the join into out.csv: the language identifier loads its model with it too
        if Path(str(getattr(dst, "name", ""))).name.startswith("out.csv."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return copy(src, dst, *args, **kwargs)

    monkeypatch.setattr("moviegenre.batch.store.shutil.copyfileobj", disk_full)
    classifier = GenreClassifier.load(tiny_model_dir)
    with pytest.raises(ConfigError, match="cannot write .*No space left on device.*rerun"):
        score_file(classifier, data, out, BatchSettings(chunk_rows=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv.parts"]
    monkeypatch.undo()
    assert score_file(classifier, data, out, BatchSettings(chunk_rows=4)).resumed_rows == 8


@pytest.mark.parametrize("fmt", ["wide", "kaggle"])
def test_csv_output_neutralises_spreadsheet_formulas(tiny_classifier, tmp_path, fmt):
    """OWASP CSV injection: cells starting = + - @ tab CR get a leading quote; Parquet is raw."""
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(1+1)", "\tx", "\rx", "plain"]
    texts = [text for _, text in described(len(hostile))]
    data = write_csv(tmp_path / "in.csv", [[i, t] for i, t in zip(hostile, texts, strict=True)])
    settings = BatchSettings(output_format=fmt)
    score_file(tiny_classifier, data, tmp_path / "out.csv", settings)
    got = [r["id"] for r in read_csv(tmp_path / "out.csv")]
    assert got == ["'" + h.strip() if h.strip()[0] in "=+-@" else h.strip() for h in hostile]
    score_file(tiny_classifier, data, tmp_path / "out.parquet", settings)
    assert pq.read_table(tmp_path / "out.parquet").column("id").to_pylist() == [
        h.strip() for h in hostile
    ]


# -- no orphans ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_worker_processes_die_with_the_command(tiny_model_dir, tmp_path, sig):
    """SIGKILL or SIGTERM on `score --workers 2` leaves no worker process behind."""
    data = write_csv(tmp_path / "in.csv", described(400))
    args = ["-m", str(tiny_model_dir), "--input", str(data), "--chunk-rows", "20"]
    out = tmp_path / "out.csv"
    proc = start_mid_run(cli(*args, "--workers", "2", "--output", str(out)), out)
    try:
        children = children_of(proc.pid)
        assert len(children) >= 2  # the two workers (and multiprocessing's resource tracker)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert all_exit_within(children, 15), f"orphans left: {children_of(1)}"
    err = (tmp_path / "out.csv.err").read_text()  # the tracker, a child, has written it all
    if sig == signal.SIGTERM:  # handled like Ctrl-C: a hint, no traceback
        assert "run the same command again to resume" in err and "Traceback" not in err
    # issue 19: the tracker unlinks the semaphores SIGKILL left, without a warning
    assert "leaked semaphore" not in err


# -- the same rules in every input format --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "imdb"])
def test_an_over_long_text_is_truncated_and_flagged_in_every_format(tiny_classifier, tmp_path, fmt):
    """200,000 characters (past csv's default field limit): scored on its first 10,000, flagged."""
    (rid, text), (rid2, text2) = described(2)
    long_text = " ".join([text] * 1_000)[:200_000]
    path = tmp_path / f"in.{ {'csv': 'csv', 'jsonl': 'jsonl', 'imdb': 'txt'}[fmt] }"
    if fmt == "csv":
        write_csv(path, [[rid, long_text], [rid2, text2]])
    elif fmt == "jsonl":
        lines = [json.dumps({"id": r, "text": t}) for r, t in ((rid, long_text), (rid2, text2))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        path.write_text(f"{rid} ::: T ::: {long_text}\n{rid2} ::: T ::: {text2}\n", "utf-8")
    score_file(tiny_classifier, path, tmp_path / "out.csv")
    rows = read_csv(tmp_path / "out.csv")
    assert [(r["id"], r["truncated"], r["error"]) for r in rows] == [
        (rid, "true", ""),
        (rid2, "false", ""),
    ]
    assert rows[0]["genre"] == tiny_classifier.predict([long_text[:10_000]])[0][0][0]


def test_rows_without_an_id_never_take_another_rows_id(tiny_classifier, tmp_path):
    """In a file with ids, a row lacking one gets "" and an error, not a row number."""
    texts = [text for _, text in described(3)]
    data = write_csv(tmp_path / "in.csv", [["2", texts[0]], ["", texts[1]], ["1", texts[2]]])
    score_file(tiny_classifier, data, tmp_path / "out.csv")
    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["2", "", "1"]
    assert rows[1]["error"].endswith("line 3: empty id") and rows[1]["genre"] == ""


# -- multi-label models (issue 22) ---------------------------------------------------------------


def multi_input(tmp_path: Path, n: int = 9) -> tuple[Path, list[tuple[str, ...]]]:
    """A CSV of texts of one and of two genres (every third a pair), and their genre sets."""
    texts, sets = tiny_multi_rows(n, seed=11)
    return write_csv(tmp_path / "in.csv", [[f"m{i}", t] for i, t in enumerate(texts)]), sets


def test_wide_output_of_a_multi_label_model_has_a_labels_column(tiny_multi_classifier, tmp_path):
    data, sets = multi_input(tmp_path)
    out = tmp_path / "scores.csv"
    score_file(tiny_multi_classifier, data, out, BatchSettings(top_k=2, chunk_rows=4))
    rows = read_csv(out)
    assert list(rows[0]) == [
        *("id", "genre", "probability", "genre_2", "probability_2", "labels", "truncated", "error")
    ]
    assert [sorted(r["labels"].split("|")) for r in rows] == [sorted(s) for s in sets]
    assert all(r["labels"].split("|")[0] == r["genre"] for r in rows)
    assert any("|" in r["labels"] for r in rows)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_every_output_kind_carries_the_labels(tiny_multi_classifier, tmp_path, suffix):
    data, _ = multi_input(tmp_path)
    settings = BatchSettings(chunk_rows=4)
    score_file(tiny_multi_classifier, data, tmp_path / "ref.csv", settings)
    score_file(tiny_multi_classifier, data, out := tmp_path / f"out{suffix}", settings)
    rows = pq.read_table(out).to_pylist() if suffix == ".parquet" else read_jsonl(out)
    assert [r["labels"] for r in rows] == [r["labels"] for r in read_csv(tmp_path / "ref.csv")]


def test_kaggle_output_of_a_multi_label_model_is_its_top_genre(tiny_multi_classifier, tmp_path):
    data, _ = multi_input(tmp_path)
    score_file(tiny_multi_classifier, data, tmp_path / "wide.csv")
    score_file(tiny_multi_classifier, data, out := tmp_path / "k.csv", BatchSettings("kaggle"))
    assert out.read_text(encoding="utf-8").splitlines()[0] == "id,genre"
    wide = [(r["id"], r["genre"]) for r in read_csv(tmp_path / "wide.csv")]
    assert [(r["id"], r["genre"]) for r in read_csv(out)] == wide


def test_recall_adds_a_genre_set_column(tiny_multi_classifier, tmp_path):
    data, _ = multi_input(tmp_path)
    out = tmp_path / "scores.csv"
    with data.open("a", encoding="utf-8") as handle:
        handle.write("m-short,far too short\n")
    score_file(tiny_multi_classifier, data, out, BatchSettings(recall=0.9, chunk_rows=4))
    rows = read_csv(out)
    assert list(rows[0]) == ["id", "genre", "probability", "labels", "genre_set"] + [
        *("truncated", "error")
    ]
    texts = [r[1] for r in list(csv.reader(data.open(encoding="utf-8")))[1:-1]]
    want = tiny_multi_classifier.classify(texts, recall=0.9)
    assert [r["genre_set"] for r in rows[:-1]] == [
        "|".join(g for g, _ in p.genre_set) for p in want
    ]
    assert rows[-1]["genre_set"] == "" and rows[-1]["labels"] == "" and rows[-1]["error"]


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        ("multi", {"coverage": 0.9}, "coverage sets are for single-label models"),
        ("single", {"recall": 0.9}, "recall sets are for multi-label models"),
    ],
)
def test_a_set_the_model_cannot_give_fails_before_writing(
    tiny_classifier, tiny_multi_classifier, tiny_imdb_test, tmp_path, model, settings, message
):
    classifier = tiny_multi_classifier if model == "multi" else tiny_classifier
    out = tmp_path / "scores.csv"
    with pytest.raises(ConfigError, match=message):
        score_file(classifier, tiny_imdb_test, out, BatchSettings(**settings))
    assert not out.exists() and not (tmp_path / "scores.csv.parts").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"recall": 1.0}, "recall must be a number between 0 and 1"),
        ({"recall": "0.9"}, "recall must be a number between 0 and 1"),
        ({"recall": 0.9, "coverage": 0.9}, "coverage .* or recall .*, not both"),
        ({"recall": 0.9, "output_format": "kaggle"}, "needs the 'wide' format"),
    ],
)
def test_bad_recall_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        BatchSettings(**settings)


def test_a_multi_label_run_resumes_like_any_other(tiny_multi_classifier, tmp_path):
    data, _ = multi_input(tmp_path, n=12)
    settings = BatchSettings(chunk_rows=4, recall=0.8, top_k=2)
    score_file(tiny_multi_classifier, data, tmp_path / "ref.csv", settings)
    out = tmp_path / "out.csv"
    with pytest.raises(Stop):
        score_file(tiny_multi_classifier, data, out, settings, on_chunk=stop_after(2, 4))
    summary = score_file(tiny_multi_classifier, data, out, settings)
    assert summary.resumed_rows == 8 and summary.rows == 12
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_score_command_recall_and_its_errors(
    tiny_multi_model_dir, tiny_model_dir, tmp_path, capsys
):
    data, _ = multi_input(tmp_path)
    out = tmp_path / "o.csv"
    argv = ["score", "--input", str(data), "--output", str(out), "--recall", "0.9"]
    code, stdout, _ = run_cli([*argv, "--model", str(tiny_multi_model_dir)], capsys)
    assert code == 0 and "scored 9 rows" in stdout
    assert all(r["genre_set"] and r["labels"] for r in read_csv(out))
    for model, extra, message in [
        (tiny_model_dir, [], "recall sets are for multi-label models"),
        (tiny_multi_model_dir, ["--coverage", "0.9"], "not both"),
    ]:
        code, stdout, err = run_cli([*argv, "--overwrite", "--model", str(model), *extra], capsys)
        assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1
        assert message in err
    code, _, err = run_cli(
        ["score", "--input", str(data), "--output", str(tmp_path / "c.csv"), "--coverage", "0.9",
         "--model", str(tiny_multi_model_dir)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "coverage sets are for single-label models" in err


def test_a_run_started_before_recall_existed_asks_for_overwrite(tiny_classifier, tmp_path):
    """Version-3 manifests have no ``recall`` setting: resuming one said "unfinished run with
    different settings ()", naming no difference; now the version says what to do."""
    data = write_csv(tmp_path / "in.csv", described(8))
    out, settings = tmp_path / "out.csv", BatchSettings(chunk_rows=4)
    with pytest.raises(Stop):
        score_file(tiny_classifier, data, out, settings, on_chunk=stop_after(1, 4))
    manifest = tmp_path / "out.csv.parts" / "manifest.json"
    old = json.loads(manifest.read_text())
    del old["settings"]["recall"]
    manifest.write_text(json.dumps({**old, "version": 3}))
    with pytest.raises(ConfigError, match="written by another moviegenre version; pass --overw"):
        score_file(tiny_classifier, data, out, settings)
    assert score_file(tiny_classifier, data, out, settings, overwrite=True).rows == 8


def test_labels_cells_are_spreadsheet_safe(tmp_path):
    """A model genre that reads as a formula (``=cmd``) leads a ``labels`` cell: CSV gets the
    leading quote like every cell; Parquet and JSONL keep the value."""
    from dataclasses import replace

    from moviegenre.training import TrainSettings, train

    data = tiny_multi_dataset()
    data = replace(data, labels=[tuple(f"={g}" for g in s) for s in data.labels])
    model = train(data, TrainSettings(params={"C": 0.5})).classifier
    source, _ = multi_input(tmp_path, n=3)
    score_file(model, source, tmp_path / "o.csv")
    score_file(model, source, tmp_path / "o.jsonl")
    cells = [r["labels"] for r in read_csv(tmp_path / "o.csv")]
    raw = [r["labels"] for r in read_jsonl(tmp_path / "o.jsonl")]
    assert all(c.startswith("'=") for c in cells) and cells == ["'" + r for r in raw]
    assert "|=" in raw[0]  # the first row has two genres
