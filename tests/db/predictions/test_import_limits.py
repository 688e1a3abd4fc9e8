"""Prediction imports refuse files past their limits, the dry run too, and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, Prediction
from db.session import session_scope
from services.access import CLI
from services.predictions.importer import PredictionImportError, import_predictions
from tests.cli_runner import RunCli
from tests.factories import make_model

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def model(engine: Engine) -> tuple[int, int]:
    return make_model(engine, name="churn")


def _stored(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        predictions = session.scalar(select(func.count()).select_from(Prediction))
        audit = session.scalar(select(func.count()).select_from(AuditLog))
    return int(predictions or 0), int(audit or 0)


def _bomb(folder: Path, *, rows: int, value_chars: int) -> Path:
    """A valid prediction log but for ``plan``: one dictionary value of ``value_chars``
    characters that every row repeats (a few kilobytes on disk)."""
    path = folder / "bomb.parquet"
    plan = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()),
                                          pa.array(["x" * value_chars]))
    pq.write_table(pa.table({
        "prediction_id": [f"b-{i}" for i in range(rows)],
        "timestamp": pa.array([T0] * rows, pa.timestamp("us", tz="UTC")),
        "model": ["churn"] * rows, "version": [1] * rows, "predicted": ["stays"] * rows,
        "score_churns": [0.25] * rows, "tenure_months": [1.0] * rows, "plan": plan,
    }), path, compression="zstd")
    return path


def test_a_parquet_bomb_is_refused_and_nothing_written(engine: Engine, model: tuple[int, int],
                                                       tmp_path: Path) -> None:
    path = _bomb(tmp_path, rows=300, value_chars=4 << 20)
    with pytest.raises(PredictionImportError) as refused:
        import_predictions(engine=engine, actor=CLI, path=path)
    [line] = str(refused.value).splitlines()
    assert line.startswith("nothing imported: column plan of row group 1 is 4,19")
    assert line.endswith("bytes a row); at most 8,192 bytes a row")
    assert _stored(engine) == (0, 0)


@pytest.mark.parametrize(("rows", "value_chars", "message"), [
    (300, 4 << 20, "error: nothing imported: column plan of row group 1 is 4,19"),
    (2000, 100_000, "error: nothing imported: row 1: column plan has 100,000 characters; "
                    "at most 1,000"),
])
def test_the_dry_run_refuses_a_parquet_bomb_too(run_cli: RunCli, engine: Engine,
                                                model: tuple[int, int], tmp_path: Path,
                                                rows: int, value_chars: int,
                                                message: str) -> None:
    path = _bomb(tmp_path, rows=rows, value_chars=value_chars)
    status, out, err = run_cli("import-predictions", str(path), "--dry-run")
    assert (status, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith(message)
    assert _stored(engine) == (0, 0)


def test_a_header_of_20000_columns_is_refused_with_its_count(
        run_cli: RunCli, engine: Engine, model: tuple[int, int], tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    names = ["prediction_id", "timestamp", "model", "version", "predicted",
             *(f"f{i}" for i in range(19_995))]
    path.write_text(",".join(names) + "\n", encoding="utf-8")
    status, out, err = run_cli("import-predictions", str(path), "--dry-run")
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "error: nothing imported: wide.csv has 20,000 columns; at most 1,000"]


def test_a_feature_value_longer_than_the_limit_is_listed_and_nothing_written(
        engine: Engine, model: tuple[int, int], tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    head = "prediction_id,timestamp,model,version,predicted,score_churns,tenure_months,plan"
    path.write_text("\n".join([
        head,
        "a,2024-05-01T12:00:00Z,churn,1,stays,0.2,1," + "é" * 1000,
        "b,2024-05-01T12:00:00Z,churn,1,stays,0.2,1," + "é" * 1001,
    ]) + "\n", encoding="utf-8")
    with pytest.raises(PredictionImportError) as refused:
        import_predictions(engine=engine, actor=CLI, path=path)
    assert str(refused.value).splitlines() == [
        "nothing imported: 1 of 2 rows of log.csv have problems",
        "  line 3: column plan has 1,001 characters; at most 1,000",
    ]
    assert _stored(engine) == (0, 0)
