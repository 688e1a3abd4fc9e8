"""Limits of prediction log files: bytes, columns, cells, lines and Parquet's decoded size.

Each bomb is built here with pyarrow: a dictionary-encoded column whose one huge value every
row repeats, a few kilobytes on disk that decode to hundreds of megabytes. The file must be
refused, with a message naming what is too big and the limit, before the value is repeated.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.predictions.files import (
    FileLimits,
    PredictionFileError,
    RawRow,
    open_rows,
)
from services.registry.features import MAX_CATEGORY_CHARS

LIMITS = FileLimits()


def _read(path: Path, limits: FileLimits = LIMITS, batch_rows: int = 5000) -> list[RawRow]:
    with open_rows(path, batch_rows=batch_rows, max_rows=1_000_000, limits=limits) as source:
        return [row for batch in source.batches for row in batch]


def _bomb(path: Path, *, rows: int, value_chars: int, store_schema: bool = True) -> Path:
    """``rows`` rows whose ``plan`` is one dictionary value of ``value_chars`` characters."""
    plan = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()),
                                          pa.array(["x" * value_chars]))
    table = pa.table({"prediction_id": [f"b-{i}" for i in range(rows)], "plan": plan})
    pq.write_table(table, path, compression="zstd", store_schema=store_schema)
    return path


@pytest.mark.parametrize("store_schema", [True, False])
def test_a_dictionary_bomb_is_refused_from_its_metadata(tmp_path: Path,
                                                        store_schema: bool) -> None:
    path = _bomb(tmp_path / "bomb.parquet", rows=300, value_chars=4 << 20,
                 store_schema=store_schema)
    assert path.stat().st_size < 10_000  # a few kilobytes on disk
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    message = str(refused.value)
    assert message.startswith("column plan of row group 1 is 4,19")
    assert "bytes once decompressed for 300 rows" in message
    assert f"at most {LIMITS.max_chunk_bytes_per_row:,} bytes a row" in message


@pytest.mark.parametrize("store_schema", [True, False])
def test_a_long_dictionary_value_shared_by_many_rows_is_refused_before_it_is_repeated(
        tmp_path: Path, store_schema: bool) -> None:
    # 100,000 characters over 2,000 rows: 50 bytes a row on average passes the metadata
    # check; repeated, the value would be 200 MB.
    path = _bomb(tmp_path / "bomb.parquet", rows=2000, value_chars=100_000,
                 store_schema=store_schema)
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    assert str(refused.value) == (
        f"row 1: column plan has 100,000 characters; at most {MAX_CATEGORY_CHARS:,}")


def test_a_parquet_file_too_large_once_decompressed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"prediction_id": ["a" * 30] * 2000}), path, compression="zstd")
    total = sum(pq.ParquetFile(path).metadata.row_group(0).column(0).total_uncompressed_size
                for _ in range(1))
    limits = FileLimits(max_uncompressed_bytes=total - 1)
    with pytest.raises(PredictionFileError) as refused:
        _read(path, limits)
    assert str(refused.value) == (f"big.parquet is {total:,} bytes once decompressed; at "
                                  f"most {total - 1:,}")
    assert [r.cells["prediction_id"] for r in _read(path)] == ["a" * 30] * 2000


def test_a_file_of_too_many_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("prediction_id\n" + "x\n" * 100, encoding="utf-8")
    size = path.stat().st_size
    with pytest.raises(PredictionFileError) as refused:
        _read(path, FileLimits(max_bytes=size - 1))
    assert str(refused.value) == (f"log.csv is {size:,} bytes; at most {size - 1:,} are "
                                  "read at once: split it")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_cell_longer_than_the_limit_is_named(tmp_path: Path, fmt: str) -> None:
    long = "é" * (MAX_CATEGORY_CHARS + 1)
    longest = "é" * MAX_CATEGORY_CHARS
    path = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        path.write_text(f"prediction_id,plan\na,{longest}\nb,{long}\n", encoding="utf-8")
        rows = _read(path)
        assert [(r.number, r.problem) for r in rows] == [
            (2, None), (3, f"column plan has 1,001 characters; at most {MAX_CATEGORY_CHARS:,}")]
        assert rows[0].cells["plan"] == longest
    else:
        pq.write_table(pa.table({"prediction_id": ["a", "b"], "plan": [longest, long]}), path)
        with pytest.raises(PredictionFileError, match=r"^row 2: column plan has 1,001 char"):
            _read(path)


def test_a_csv_line_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("prediction_id,plan\na,b\nc," + "d" * 500 + "\n", encoding="utf-8")
    with pytest.raises(PredictionFileError) as refused:
        _read(path, FileLimits(max_line_bytes=100))
    assert str(refused.value) == "line 3 is longer than 100 bytes"


def test_a_nested_parquet_column_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"prediction_id": ["a"], "plan": [[1, 2, 3]]}), path)
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    assert str(refused.value) == ("column plan holds list<element: int64> values; one number, "
                                  "text, boolean or time a cell is read")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_too_many_columns_are_refused_with_their_count(tmp_path: Path, fmt: str) -> None:
    count = 20_000 if fmt == "csv" else 1_001
    names = [f"c{i}" for i in range(count)]
    path = tmp_path / f"wide.{fmt}"
    if fmt == "csv":
        path.write_text(",".join(names) + "\n" + ",".join("1" * count) + "\n",
                        encoding="utf-8")
    else:
        pq.write_table(pa.table({name: [1] for name in names}), path)
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    assert str(refused.value) == (f"wide.{fmt} has {count:,} columns; at most "
                                  f"{LIMITS.max_columns:,}")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_repeated_columns_are_still_named(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"log.{fmt}"
    if fmt == "csv":
        path.write_text("b,a,b,c,a,b\n1,2,3,4,5,6\n", encoding="utf-8")
    else:
        arrays = [pa.array([i]) for i in range(6)]
        pq.write_table(pa.Table.from_arrays(arrays, names=["b", "a", "b", "c", "a", "b"]), path)
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    assert str(refused.value) == "column name(s) repeated in the header: a, b"
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(["x"] * 1000) + "\n", encoding="utf-8")
    with pytest.raises(PredictionFileError, match=r"^column name\(s\) repeated in the "
                                                  r"header: x$"):
        _read(wide)


def test_big_batches_are_read_in_slices_of_bounded_text(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    values = [f"{i:04d}" + "v" * 996 for i in range(40)]
    pq.write_table(pa.table({"prediction_id": [str(i) for i in range(40)], "plan": values}),
                   path)
    limits = FileLimits(batch_text_bytes=10_000)
    with open_rows(path, batch_rows=5000, max_rows=100, limits=limits) as source:
        batches = list(source.batches)
    assert max(len(b) for b in batches) <= 10
    assert [r.cells["plan"] for b in batches for r in b] == values
    assert [r.number for b in batches for r in b] == list(range(1, 41))


@pytest.mark.parametrize("dictionary", [False, True])
def test_parquet_text_that_is_not_utf8_is_named_not_a_traceback(tmp_path: Path,
                                                                dictionary: bool) -> None:
    raw = pa.array([b"ok", b"ok", b"\xed\xb2\x80"], pa.binary())  # a lone surrogate's bytes
    plan: pa.Array = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())
    if dictionary:
        plan = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1], pa.int32()),
                                              pa.Array.from_buffers(pa.string(), 2, pa.array(
                                                  [b"ok", b"\xed\xb2\x80"]).buffers()))
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"prediction_id": ["a", "b", "c"], "plan": plan}), path)
    with pytest.raises(PredictionFileError) as refused:
        _read(path)
    assert str(refused.value) == "row 3: column plan is not UTF-8 text"
