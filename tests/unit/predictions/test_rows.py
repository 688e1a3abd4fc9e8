"""Checks of imported prediction logs: every rule, on the same rows written as CSV and Parquet."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.predictions.files import PredictionFileError, detect_format
from services.predictions.rows import (
    FileCheck,
    ModelInfo,
    RowsChangedError,
    Rules,
    check_file,
    prediction_rows,
)

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
MODELS = {
    "churn": ModelInfo(id=1, name="churn", classes=("stays", "churns"),
                       features=(("tenure_months", "number"), ("plan", "category")),
                       versions={1: 10, 2: 11}),
    "triage": ModelInfo(id=2, name="triage", classes=("low", "mid", "high"),
                        features=(("length", "number"),), versions={1: 20}),
}
HEADER = ("prediction_id", "timestamp", "model", "version", "predicted", "score_stays",
          "score_churns", "tenure_months", "plan")
GOOD = ("p-1", "2024-05-01T12:00:00Z", "churn", 1, "stays", 0.8, 0.2, 3.0, "basic")
FORMATS = ["csv", "parquet"]


def _write(folder: Path, fmt: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
           name: str = "log") -> Path:
    """The rows as a CSV file (``None`` blank) or a Parquet file (one type a column)."""
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        return path
    columns: dict[str, list[Any]] = {name: [row[i] for row in rows]
                                     for i, name in enumerate(header)}
    for name, values in columns.items():
        kinds = {type(v) for v in values if v is not None}
        if len(kinds) > 1:  # mixed: text, as a CSV would have it
            columns[name] = [None if v is None else str(v) for v in values]
    schema = pa.schema([(name, pa.string()) if all(v is None for v in values)
                        else (name, pa.array(values).type) for name, values in columns.items()])
    pq.write_table(pa.table(columns, schema=schema), path)
    return path


def _where(fmt: str, index: int) -> str:
    """How the ``index``-th data row (from 0) is named: CSV lines count the header."""
    return f"line {index + 2}" if fmt == "csv" else f"row {index + 1}"


def _nothing_stored(ids: Collection[str]) -> set[str]:
    return set()


def _check(path: Path, stored: Any = _nothing_stored, **options: Any) -> FileCheck:
    options.setdefault("chunk_rows", 2)  # several chunks even for small files
    return check_file(path, rules=Rules(models=MODELS, now=NOW, **options), stored=stored)


def _row(**changes: Any) -> tuple[Any, ...]:
    values = dict(zip(HEADER, GOOD, strict=True))
    values.update(changes)
    return tuple(values[name] for name in HEADER)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_good_file_is_read_whole(tmp_path: Path, fmt: str) -> None:
    rows = [_row(prediction_id=f"p-{i}", version=1 + i % 2) for i in range(5)]
    path = _write(tmp_path, fmt, HEADER, rows)
    check = _check(path)
    assert check.ok
    assert (check.format, check.rows, check.bad_rows) == (fmt, 5, 0)
    assert dict(check.versions) == {("churn", 1): 3, ("churn", 2): 2}
    assert check.first_ts == check.last_ts == datetime(2024, 5, 1, 12, tzinfo=UTC)
    chunks = list(prediction_rows(path, rules=Rules(models=MODELS, now=NOW, chunk_rows=2)))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert chunks[0][0] == {
        "id": "p-0", "model_id": 1, "version_id": 10,
        "ts": datetime(2024, 5, 1, 12, tzinfo=UTC),
        "features": {"tenure_months": 3.0, "plan": "basic"}, "predicted_class": "stays",
        "scores": {"stays": 0.8, "churns": 0.2}, "top_score": 0.8, "latency_ms": 0.0,
    }


BAD_ROWS = [
    ({"timestamp": "2024-05-01T12:00:00"}, "timestamp '2024-05-01T12:00:00' has no UTC offset"),
    ({"timestamp": "yesterday"}, "timestamp 'yesterday' is not an ISO 8601 date and time"),
    ({"timestamp": "2024-05-01"}, "is not an ISO 8601 date and time"),
    ({"timestamp": "2024-06-02T00:00:00Z"}, "is in the future"),
    ({"model": "nope"}, "unknown model 'nope' (models: churn, triage)"),
    ({"version": 7}, "churn has no version 7 (registered: 1, 2)"),
    ({"predicted": "maybe"}, "predicted 'maybe' is not a class of churn (stays, churns)"),
    ({"score_stays": "high"}, "score_stays 'high' is not a probability between 0 and 1"),
    ({"score_stays": 1.5, "score_churns": None}, "is not a probability between 0 and 1"),
    ({"score_stays": 0.5}, "the scores of all classes sum to 0.7, not 1"),
    ({"score_stays": None, "score_churns": None}, "no score for any class"),
    ({"tenure_months": "many"}, "feature tenure_months 'many' is not a finite number"),
    ({"tenure_months": None}, "feature tenure_months is missing"),
    ({"prediction_id": None}, "prediction_id is missing"),
    ({"prediction_id": "x" * 37}, "prediction_id has 37 characters, more than 36"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("change", "message"), BAD_ROWS,
                         ids=[m.split(" ")[0] + "-" + str(i) for i, (_, m) in enumerate(BAD_ROWS)])
def test_each_bad_row_is_named_by_its_line_or_row(tmp_path: Path, fmt: str,
                                                  change: dict[str, Any], message: str) -> None:
    rows = [_row(prediction_id="p-1"), _row(**{"prediction_id": "p-2", **change}),
            _row(prediction_id="p-3")]
    check = _check(_write(tmp_path, fmt, HEADER, rows))
    assert not check.ok
    assert (check.rows, check.bad_rows) == (3, 1)
    [problem] = check.problems
    assert problem.where == _where(fmt, 1)
    assert message in problem.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_problems_of_a_row_are_listed_together(tmp_path: Path, fmt: str) -> None:
    rows = [_row(), _row(prediction_id="p-1", version=3, predicted="maybe", plan=None)]
    [problem] = _check(_write(tmp_path, fmt, HEADER, rows)).problems
    assert str(problem) == (
        f"{_where(fmt, 1)}: churn has no version 3 (registered: 1, 2); the version must be "
        "registered before its predictions are imported; predicted 'maybe' is not a class of "
        "churn (stays, churns); feature plan is missing; prediction_id 'p-1' repeats "
        f"{_where(fmt, 0)}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_ids_already_stored_are_refused(tmp_path: Path, fmt: str) -> None:
    rows = [_row(prediction_id=f"p-{i}") for i in range(5)]
    asked: list[list[str]] = []

    def stored(ids: Collection[str]) -> set[str]:
        asked.append(sorted(ids))
        return {"p-3"} & set(ids)

    check = _check(_write(tmp_path, fmt, HEADER, rows), stored=stored)
    assert [str(p) for p in check.problems] == [
        f"{_where(fmt, 3)}: prediction_id 'p-3' is already in the store"]
    assert asked == [["p-0", "p-1"], ["p-2", "p-3"], ["p-4"]]  # one question a chunk


@pytest.mark.parametrize("fmt", FORMATS)
def test_naive_times_are_read_in_the_given_zone(tmp_path: Path, fmt: str) -> None:
    rows = [_row(timestamp="2024-05-01T12:00:00"), _row(prediction_id="p-2")]
    check = _check(_write(tmp_path, fmt, HEADER, rows), zone=ZoneInfo("Europe/Paris"))
    assert check.ok
    assert check.first_ts == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_binary_model_may_log_one_probability(tmp_path: Path, fmt: str) -> None:
    rows = [_row(score_stays=None, score_churns=0.1), _row(prediction_id="p-2",
                                                           predicted="churns",
                                                           score_stays=None, score_churns=0.7)]
    path = _write(tmp_path, fmt, HEADER, rows)
    assert _check(path).ok
    [chunk] = prediction_rows(path, rules=Rules(models=MODELS, now=NOW))
    assert [(r["scores"], r["top_score"]) for r in chunk] == [
        ({"stays": 0.9, "churns": 0.1}, 0.9), ({"stays": 0.30000000000000004, "churns": 0.7},
                                               0.7)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_partial_scores_must_include_the_predicted_class(tmp_path: Path, fmt: str) -> None:
    header = ("prediction_id", "timestamp", "model", "version", "predicted", "score_low",
              "length")
    rows = [("t-1", "2024-05-01T12:00:00Z", "triage", 1, "low", 0.5, 10.0),
            ("t-2", "2024-05-01T12:00:00Z", "triage", 1, "high", 0.5, 10.0)]
    check = _check(_write(tmp_path, fmt, header, rows))
    assert [str(p) for p in check.problems] == [
        f"{_where(fmt, 1)}: no score for the predicted class 'high' (give score_high, or every "
        "class but one)"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_scores_is_an_explicit_choice(tmp_path: Path, fmt: str) -> None:
    header = tuple(c for c in HEADER if not c.startswith("score_"))
    rows = [tuple(v for c, v in zip(HEADER, _row(), strict=True) if not c.startswith("score_"))]
    path = _write(tmp_path, fmt, header, rows)
    [problem] = _check(path).problems
    assert problem.where == ""
    assert "there is no score_<class> column" in problem.message
    check = _check(path, without_scores=True)
    assert check.ok
    assert check.without_scores == 1
    [[row]] = prediction_rows(path, rules=Rules(models=MODELS, now=NOW, without_scores=True))
    assert (row["scores"], row["top_score"]) == ({}, 1.0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_wide_problems(tmp_path: Path, fmt: str) -> None:
    header = (*HEADER[:-1], "score_maybe", "region")  # no plan; two unknown columns
    rows = [(*GOOD[:-1], None, "north")]
    check = _check(_write(tmp_path, fmt, header, rows))
    assert [str(p) for p in check.problems] == [
        "column plan (a feature of churn) is missing",
        "score column(s) score_maybe name no class of churn",
        "column(s) region are not features of churn; fix their names, or import without "
        "them (--ignore-extra-columns)",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_extra_columns_may_be_left_out(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, fmt, (*HEADER, "region"), [(*GOOD, "north")])
    check = _check(path, ignore_extra_columns=True)
    assert check.ok
    assert check.ignored_columns == ("region",)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_required_column_stops_before_any_row(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, fmt, HEADER[1:], [GOOD[1:]])
    check = _check(path)
    assert check.rows == 0
    assert [str(p) for p in check.problems] == [
        "the column(s) prediction_id are missing (needed: prediction_id, timestamp, model, "
        "version, predicted)"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_without_rows_is_refused(tmp_path: Path, fmt: str) -> None:
    check = _check(_write(tmp_path, fmt, HEADER, []))
    assert [str(p) for p in check.problems] == [f"log.{fmt} has no rows"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_row_limit(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, fmt, HEADER, [_row(prediction_id=f"p-{i}") for i in range(3)])
    assert _check(path, max_rows=3).ok
    with pytest.raises(PredictionFileError, match="more than 2 rows"):
        _check(path, max_rows=2)


def test_an_empty_csv_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(PredictionFileError, match=r"empty\.csv is empty"):
        _check(path)


def test_csv_lines_that_are_not_utf8_or_have_the_wrong_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, "csv", HEADER, [_row(prediction_id=f"p-{i}") for i in range(4)])
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"basic", "bäsic".encode("latin-1"))
    lines[3] = b"p-x,2024-05-01T12:00:00Z,churn\r\n"
    lines[4] = lines[4].replace(b"p-3", b"p\x00")
    path.write_bytes(codecs.BOM_UTF8 + b"".join(lines))  # a byte-order mark is fine
    check = _check(path)
    assert [str(p) for p in check.problems] == [
        f"line 3: not UTF-8 text (byte 0xe4 at position {lines[2].index(0xE4) + 1}); save "
        "the file as UTF-8",
        "line 4: has 3 fields; the header has 9",
        "line 5: contains a NUL character",
    ]


def test_csv_lines_are_counted_across_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    good = ",".join(str(v) for v in GOOD[1:])
    path.write_text(",".join(HEADER) + "\n"
                    + '"p-1\nstill p-1",' + good + "\n"  # lines 2-3: an id with a line break
                    + "\n"  # line 4: blank, skipped
                    + "p-2," + good.replace("stays", "maybe") + "\n",  # line 5
                    encoding="utf-8")
    check = _check(path)
    assert check.rows == 2
    assert [p.where for p in check.problems] == ["line 5"]


def test_broken_quoting_is_a_problem_of_its_line(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    good = ",".join(str(v) for v in GOOD[1:])
    path.write_text(",".join(HEADER) + '\n"p-1"x,' + good + "\np-2," + good + "\n",
                    encoding="utf-8")
    check = _check(path)
    assert [str(p) for p in check.problems] == [
        "line 2: not valid CSV: ',' expected after '\"'"]


def test_repeated_header_names_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "csv", (*HEADER, "plan"), [(*GOOD, "pro")])
    with pytest.raises(PredictionFileError, match="repeated in the header: plan"):
        _check(path)


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    path.write_text("prediction_id\n", encoding="utf-8")
    with pytest.raises(PredictionFileError, match="not a readable Parquet file"):
        _check(path)


def test_the_format_comes_from_the_extension_else_the_content(tmp_path: Path) -> None:
    parquet = _write(tmp_path, "parquet", HEADER, [GOOD])
    csv_file = _write(tmp_path, "csv", HEADER, [GOOD])
    assert detect_format(parquet.rename(tmp_path / "log.dat")) == "parquet"
    assert detect_format(csv_file.rename(tmp_path / "log.txt")) == "csv"
    assert _check(tmp_path / "log.dat").format == "parquet"
    assert _check(tmp_path / "log.txt").ok


def test_parquet_timestamps_with_a_zone_and_in_nanoseconds(tmp_path: Path) -> None:
    stamps = pa.array([datetime(2024, 5, 1, 12, tzinfo=UTC)], pa.timestamp("ns", tz="UTC"))
    table = pa.table({name: [value] for name, value in zip(HEADER, GOOD, strict=True)})
    table = table.set_column(1, "timestamp", stamps)
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    check = _check(path)
    assert check.ok
    assert check.first_ts == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_rows_that_changed_since_the_check_stop_the_write(tmp_path: Path) -> None:
    path = _write(tmp_path, "csv", HEADER, [_row(), _row(prediction_id="p-2", model="nope")])
    with pytest.raises(RowsChangedError, match="line 3: unknown model"):
        list(prediction_rows(path, rules=Rules(models=MODELS, now=NOW)))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_category_longer_than_any_category_is_refused_whatever_the_file_limits(
        tmp_path: Path, fmt: str) -> None:
    from services.predictions.files import FileLimits

    path = _write(tmp_path, fmt, HEADER, [_row(plan="p" * 1000), _row(prediction_id="p-2",
                                                                       plan="p" * 1001)])
    check = _check(path, limits=FileLimits(max_cell_chars=5000))
    assert [str(p) for p in check.problems] == [
        f"{_where(fmt, 1)}: feature plan: is 1,001 characters long; at most 1,000"]
