"""``drift`` reads both files whole, so it refuses files past the import limits first."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.cli import main as cli


@pytest.fixture(autouse=True)
def _no_drift_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSDASH_DRIFT_CONFIG_FILE", raising=False)
    monkeypatch.delenv("OPSDASH_DRIFT_SHARE", raising=False)


def _error(capsys: pytest.CaptureFixture[str], reference: Path, current: Path) -> str:
    """Run a comparison that must fail: status 2, nothing on stdout, one line on stderr."""
    status = cli.main(["drift", "--reference", str(reference), "--current", str(current)])
    out, err = capsys.readouterr()
    assert (status, out) == (2, ""), err
    [line] = err.splitlines()
    assert line.startswith("error: ")
    return line.removeprefix("error: ")


def _reference(folder: Path) -> Path:
    path = folder / "reference.csv"
    path.write_text("prediction_id,plan\n" + "".join(f"r{i},basic\n" for i in range(50)),
                    encoding="utf-8")
    return path


def _bomb(path: Path, *, rows: int, value_chars: int, store_schema: bool = True) -> Path:
    plan = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()),
                                          pa.array(["x" * value_chars]))
    pq.write_table(pa.table({"prediction_id": [f"b-{i}" for i in range(rows)], "plan": plan}),
                   path, compression="zstd", store_schema=store_schema)
    return path


def test_a_parquet_bomb_is_refused_from_its_metadata(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = _bomb(tmp_path / "current.parquet", rows=300, value_chars=4 << 20)
    message = _error(capsys, _reference(tmp_path), current)
    assert message.startswith(f"the current file {current}: column plan of row group 1 is 4,19")
    assert message.endswith("bytes a row); at most 8,192 bytes a row")


@pytest.mark.parametrize("store_schema", [True, False])
def test_a_long_value_shared_by_many_rows_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], store_schema: bool) -> None:
    current = _bomb(tmp_path / "current.parquet", rows=2000, value_chars=100_000,
                    store_schema=store_schema)
    message = _error(capsys, _reference(tmp_path), current)
    assert message == (f"the current file {current}: row 1: column plan has 100,000 "
                       "characters; at most 1,000")


def test_parquet_text_that_is_not_utf8_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = pa.array([b"basic", b"\xff"], pa.binary())
    plan = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())
    current = tmp_path / "current.parquet"
    pq.write_table(pa.table({"prediction_id": ["a", "b"], "plan": plan}), current)
    message = _error(capsys, _reference(tmp_path), current)
    assert message == f"the current file {current}: row 2: column plan is not UTF-8 text"


def test_a_csv_cell_longer_than_the_limit_names_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    current = tmp_path / "current.csv"
    current.write_text("prediction_id,plan\na,basic\n\nb," + "é" * 1001 + "\n",
                       encoding="utf-8")
    message = _error(capsys, _reference(tmp_path), current)
    assert message == (f"the current file {current}: line 4: column plan has 1,001 "
                       "characters; at most 1,000")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_too_many_columns_are_refused_with_their_count(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    count = 20_000 if fmt == "csv" else 1_001
    names = [f"c{i}" for i in range(count)]
    current = tmp_path / f"current.{fmt}"
    if fmt == "csv":
        current.write_text(",".join(names) + "\n" + ",".join("1" * count) + "\n",
                           encoding="utf-8")
    else:
        pq.write_table(pa.table({name: [1] for name in names}), current)
    message = _error(capsys, _reference(tmp_path), current)
    assert message == (f"the current file {current}: current.{fmt} has {count:,} columns; "
                       "at most 1,000")


def test_values_up_to_the_limit_are_compared(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    longest = "é" * 1000
    current = tmp_path / "current.parquet"
    plan = pa.DictionaryArray.from_arrays(pa.array([0, 1] * 25, pa.int32()),
                                          pa.array(["basic", longest]))
    pq.write_table(pa.table({"prediction_id": [f"c{i}" for i in range(50)], "plan": plan}),
                   current, store_schema=False)
    status = cli.main(["drift", "--reference", str(_reference(tmp_path)),
                       "--current", str(current), "--json"])
    out, err = capsys.readouterr()
    assert (status, err) == (0, ""), err
    assert '"column": "plan"' in out
