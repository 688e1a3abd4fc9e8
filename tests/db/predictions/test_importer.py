"""Importing prediction logs into the store: all or nothing, audited, counted once labelled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select

import services.predictions.importer as importer
from db.models import AuditLog, Prediction
from db.repositories.predictions import insert_feedback, insert_predictions
from db.session import session_scope
from services.access import CLI, PermissionDenied, Principal, Role
from services.cli import main as cli
from services.predictions.importer import PredictionImportError, import_predictions
from services.quality.report import quality_report
from tests.cli_runner import RunCli
from tests.factories import make_model

HEADER = "prediction_id,timestamp,model,version,predicted,score_stays,score_churns," \
         "tenure_months,plan"
T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _line(i: int, *, predicted: str = "stays", model: str = "churn") -> str:
    p = 0.7 if predicted == "stays" else 0.2
    return (f"imp-{i},2024-05-01T{10 + i % 10:02d}:00:00+02:00,{model},1,{predicted},{p},"
            f"{1 - p:.1f},{i},basic")


def _csv(folder: Path, lines: list[str], name: str = "log.csv") -> Path:
    path = folder / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _state(engine: Engine) -> tuple[int, list[tuple[str, str]]]:
    with session_scope(engine) as session:
        count = session.scalar(select(func.count()).select_from(Prediction))
        audit = [(a.actor, a.action) for a in session.scalars(select(AuditLog))]
    return int(count or 0), audit


@pytest.fixture
def model(engine: Engine) -> tuple[int, int]:
    return make_model(engine, name="churn")


def test_a_good_file_is_stored_whole_and_audited(engine: Engine, model: tuple[int, int],
                                                  tmp_path: Path) -> None:
    path = _csv(tmp_path, [_line(i, predicted="stays" if i % 3 else "churns")
                           for i in range(12)])
    result = import_predictions(engine=engine, actor=CLI, path=path, chunk_rows=5)
    assert (result.rows, result.dry_run, result.format) == (12, False, "csv")
    assert result.first_ts == T0.replace(hour=8)
    with session_scope(engine) as session:
        stored = session.get(Prediction, "imp-3")
        assert stored is not None
        assert (stored.version_id, stored.predicted_class, stored.top_score,
                stored.scores, stored.features, stored.ts) == (
            model[1], "churns", 0.8, {"stays": 0.2, "churns": 0.8},
            {"tenure_months": 3.0, "plan": "basic"}, T0.replace(hour=11))
        [entry] = session.scalars(select(AuditLog))
    assert (entry.actor, entry.action, entry.object_type, entry.object_id) == (
        "cli", "import_predictions", "prediction_file", "log.csv")
    assert entry.details["rows"] == 12
    assert entry.details["versions"] == {"churn:v1": 12}
    assert entry.details["sha256"] == result.sha256


def test_imported_predictions_count_in_quality_once_labelled(
        engine: Engine, model: tuple[int, int], tmp_path: Path) -> None:
    path = _csv(tmp_path, [_line(i, predicted="stays" if i < 6 else "churns") for i in range(10)])
    import_predictions(engine=engine, actor=CLI, path=path)
    assert quality_report(engine=engine, model="churn", bootstrap=0).n_labelled == 0
    labels = ["stays"] * 4 + ["churns"] * 2 + ["churns"] * 3 + ["stays"]
    with session_scope(engine, write=True) as session:
        insert_feedback(session=session, rows=[
            {"prediction_id": f"imp-{i}", "label": label, "labeler": "ann", "source": "csv",
             "created_at": T0} for i, label in enumerate(labels)])
    report = quality_report(engine=engine, model="churn", version=1, bootstrap=0)
    assert report.n_labelled == 10
    assert report.matrix.tolist() == [[4, 1], [2, 3]]  # rows true stays/churns


def test_one_bad_row_in_the_last_chunk_writes_nothing(engine: Engine, model: tuple[int, int],
                                                      tmp_path: Path) -> None:
    path = _csv(tmp_path, [*(_line(i) for i in range(11)), _line(11, predicted="maybe")])
    with pytest.raises(PredictionImportError) as refused:
        import_predictions(engine=engine, actor=CLI, path=path, chunk_rows=5)
    assert str(refused.value).splitlines() == [
        "nothing imported: 1 of 12 rows of log.csv have problems",
        "  line 13: predicted 'maybe' is not a class of churn (stays, churns)",
    ]
    assert _state(engine) == (0, [])


def test_ids_already_in_the_store_write_nothing(engine: Engine, model: tuple[int, int],
                                                tmp_path: Path) -> None:
    path = _csv(tmp_path, [_line(i) for i in range(3)])
    import_predictions(engine=engine, actor=CLI, path=path)
    again = _csv(tmp_path, [_line(i) for i in range(2, 6)], name="again.csv")
    with pytest.raises(PredictionImportError, match="line 2: prediction_id 'imp-2' is already"):
        import_predictions(engine=engine, actor=CLI, path=again)
    assert _state(engine) == (3, [("cli", "import_predictions")])


def test_a_dry_run_writes_nothing(engine: Engine, model: tuple[int, int],
                                  tmp_path: Path) -> None:
    result = import_predictions(engine=engine, actor=CLI, dry_run=True,
                                path=_csv(tmp_path, [_line(i) for i in range(4)]))
    assert (result.rows, result.dry_run) == (4, True)
    assert _state(engine) == (0, [])


def test_ids_stored_between_check_and_write_roll_everything_back(
        engine: Engine, model: tuple[int, int], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _csv(tmp_path, [_line(i) for i in range(12)])
    check_file = importer.check_file

    def check_then_race(*args: Any, **kwargs: Any) -> Any:
        checked = check_file(*args, **kwargs)
        with session_scope(engine, write=True) as session:  # another writer, meanwhile
            insert_predictions(session=session, rows=[{
                "id": "imp-11", "model_id": model[0], "version_id": model[1], "ts": T0,
                "features": {}, "predicted_class": "stays", "scores": {}, "top_score": 1.0,
                "latency_ms": 0.0}])
        return checked

    monkeypatch.setattr(importer, "check_file", check_then_race)
    with pytest.raises(PredictionImportError, match="were stored by someone else"):
        import_predictions(engine=engine, actor=CLI, path=path, chunk_rows=5)
    assert _state(engine) == (1, [])  # only the other writer's row


def test_a_file_changed_between_check_and_write_writes_nothing(
        engine: Engine, model: tuple[int, int], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _csv(tmp_path, [_line(i) for i in range(3)])
    check_file = importer.check_file

    def check_then_edit(*args: Any, **kwargs: Any) -> Any:
        checked = check_file(*args, **kwargs)
        _csv(tmp_path, [_line(i) for i in range(4)])
        return checked

    monkeypatch.setattr(importer, "check_file", check_then_edit)
    with pytest.raises(PredictionImportError, match="changed while it was imported"):
        import_predictions(engine=engine, actor=CLI, path=path)
    assert _state(engine) == (0, [])


def test_parquet_files_import_too(engine: Engine, model: tuple[int, int],
                                  tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({
        "prediction_id": ["a", "b"],
        "timestamp": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        "model": ["churn", "churn"], "version": [1, 1], "predicted": ["stays", "churns"],
        "score_churns": [0.25, 0.75], "tenure_months": [1.0, 2.0], "plan": ["basic", "pro"],
    }), path)
    result = import_predictions(engine=engine, actor=CLI, path=path)
    assert (result.rows, result.format) == (2, "parquet")
    with session_scope(engine) as session:
        assert session.get(Prediction, "a").top_score == 0.75  # type: ignore[union-attr]


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER, None])
def test_only_operators_and_admins_may_import(engine: Engine, model: tuple[int, int],
                                              tmp_path: Path, role: Role | None) -> None:
    actor = Principal(username="someone", role=role) if role else None
    with pytest.raises(PermissionDenied):
        import_predictions(engine=engine, actor=actor, path=tmp_path / "not-even-read.csv")
    operator = Principal(username="olga", role=Role.OPERATOR)
    import_predictions(engine=engine, actor=operator, path=_csv(tmp_path, [_line(1)]))
    assert _state(engine) == (1, [("olga", "import_predictions")])


def test_cli_imports_and_says_what(run_cli: RunCli, model: tuple[int, int],
                                   tmp_path: Path) -> None:
    path = _csv(tmp_path, [_line(i) for i in range(3)])
    status, out, err = run_cli("import-predictions", str(path), "--dry-run")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "log.csv: would import 3 predictions (csv, from 2024-05-01T08:00:00+00:00 to "
        "2024-05-01T10:00:00+00:00)", "  churn v1: 3", "dry run: nothing written"]
    status, out, err = run_cli("import-predictions", str(path), "--json")
    assert status == 0, err
    data = json.loads(out)
    assert (data["imported"], data["versions"]) == (3, [{"model": "churn", "version": 1,
                                                         "rows": 3}])


def test_cli_lists_every_bad_row_and_exits_2(run_cli: RunCli, model: tuple[int, int],
                                             engine: Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path, [_line(1), _line(2, model="nope"), "x,y", _line(1)])
    status, out, err = run_cli("import-predictions", str(path))
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "error: nothing imported: 3 of 4 rows of log.csv have problems",
        "  line 3: unknown model 'nope' (models: churn)",
        "  line 4: has 2 fields; the header has 9",
        "  line 5: prediction_id 'imp-1' repeats line 2",
    ]
    assert _state(engine) == (0, [])


@pytest.mark.parametrize(("args", "message"), [
    (["missing.csv"], "error: nothing imported: cannot read missing.csv: No such file or "
                      "directory"),
    (["log.csv", "--timezone", "Mars/Olympus"],
     "error: unknown time zone 'Mars/Olympus' (an IANA name, e.g. Europe/Paris or UTC)"),
    (["log.csv", "--max-rows", "0"], "error: --max-rows must be at least 1"),
])
def test_cli_usage_errors_are_one_line(run_cli: RunCli, model: tuple[int, int],
                                       tmp_path: Path, args: list[str], message: str) -> None:
    _csv(tmp_path, [_line(1)])
    status, out, err = run_cli("import-predictions", str(tmp_path / args[0]), *args[1:])
    assert (status, out) == (2, "")
    assert err.splitlines() == [message]


def test_cli_help_names_the_columns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["import-predictions", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for word in ("prediction_id, timestamp, model, version, predicted", "score_<class>",
                 "--timezone", "--without-scores", "--ignore-extra-columns", "--dry-run",
                 "--json"):
        assert word in out
