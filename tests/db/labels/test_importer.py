"""Label CSV import: all rows or none, conflicts refused or replaced, roles, the command line."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, Feedback, FeedbackHistory
from db.repositories import labels as labels_repo
from db.repositories import users as users_repo
from db.session import session_scope
from services.access import CLI, PermissionDenied, Principal, Role
from services.labels.importer import (
    ImportConflictError,
    ImportResult,
    LabelImportError,
    import_labels,
)
from services.labels.save import LabelEdit, save_labels
from services.settings import Settings
from tests.cli_runner import RunCli
from tests.factories import log_predictions, make_model

ANN = Principal(username="ann", role=Role.LABELER)
BOB = Principal(username="bob", role=Role.LABELER)
ADA = Principal(username="ada", role=Role.ADMIN)
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def ids(engine: Engine) -> list[str]:
    """Four unlabelled churn predictions (classes stays, churns)."""
    model_id, version_id = make_model(engine)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0, "stays", None)] * 4)


def _csv(*rows: str, header: str = "prediction_id,label") -> bytes:
    return "\n".join((header, *rows, "")).encode()


def _counts(engine: Engine) -> tuple[int, ...]:
    """Rows of feedback, feedback_history and audit_log."""
    with session_scope(engine) as session:
        return tuple(session.scalar(select(func.count()).select_from(table)) or 0
                     for table in (Feedback, FeedbackHistory, AuditLog))


def _labels(engine: Engine) -> dict[str, tuple[str, str, str, int]]:
    with session_scope(engine) as session:
        return {pid: (label, labeler, source, revision) for pid, label, labeler, source, revision
                in session.execute(select(Feedback.prediction_id, Feedback.label,
                                          Feedback.labeler, Feedback.source, Feedback.revision))}


def _audit(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        return [(a.actor, a.action, a.object_id, dict(a.details))
                for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]


def _import(engine: Engine, data: bytes, *, actor: Principal | None = ANN,
            replace: bool = False, settings: Settings | None = None) -> ImportResult:
    return import_labels(engine=engine, actor=actor, data=data, filename="labels.csv",
                         replace=replace, settings=settings or Settings())


def test_an_import_stores_every_row_with_history_and_audit(engine: Engine, ids: list[str]) -> None:
    p1, p2, p3, _ = ids
    data = _csv(f"{p1},churns,vendor-7", f"{p2},stays,", f"{p3},churns,vendor-7",
                header="prediction_id,label,labeler")
    result = _import(engine, data, actor=ADA)
    assert result == ImportResult(rows=3, saved=3, unchanged=0, replaced=0)
    assert _labels(engine) == {p1: ("churns", "vendor-7", "csv", 1),
                               p2: ("stays", "ada", "csv", 1),
                               p3: ("churns", "vendor-7", "csv", 1)}
    assert _counts(engine) == (3, 3, 4)
    audit = _audit(engine)
    assert [(actor, action) for actor, action, *_ in audit] == [("ada", "label")] * 3 + [
        ("ada", "import_labels")]
    assert [d.get("labeler") for *_, d in audit[:3]] == ["vendor-7", None, "vendor-7"]
    assert audit[-1][2:] == ("labels.csv", {"rows": 3, "saved": 3, "unchanged": 0,
                                            "replaced": 0, "replace": False})


def test_only_an_admin_may_name_another_labeler(engine: Engine, ids: list[str]) -> None:
    # Operators and analysts may not import labels at all (the access matrix); a labeler's
    # rows naming someone else are stored as the labeler's, and the result says so.
    p1, p2, p3, _ = ids
    data = _csv(f"{p1},churns,ann", f"{p2},stays,", f"{p3},churns,bob",
                header="prediction_id,label,labeler")
    result = _import(engine, data, actor=ANN)
    assert result == ImportResult(rows=3, saved=3, unchanged=0, replaced=0, named_others=1)
    assert _labels(engine) == {p1: ("churns", "ann", "csv", 1), p2: ("stays", "ann", "csv", 1),
                               p3: ("churns", "ann", "csv", 1)}
    audit = _audit(engine)
    assert [d.get("labeler") for *_, d in audit[:3]] == [None, None, None]
    assert audit[-1][3]["named_others_as_importer"] == 1


def test_an_admin_may_name_another_labeler(engine: Engine, ids: list[str]) -> None:
    p1, *_ = ids
    result = _import(engine, _csv(f"{p1},churns,bob", header="prediction_id,label,labeler"),
                     actor=ADA)
    assert result == ImportResult(rows=1, saved=1, unchanged=0, replaced=0)
    assert _labels(engine) == {p1: ("churns", "bob", "csv", 1)}


def test_a_failing_import_writes_nothing_and_names_every_bad_line(
    engine: Engine, ids: list[str]
) -> None:
    p1, p2, p3, p4 = ids
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p4, "stays", None)])
    before = _counts(engine)
    data = _csv(f"{p1},churns",      # 2 good
                "nope,stays",        # 3 unknown prediction
                f"{p2},maybe",       # 4 not a class
                f"{p3},",            # 5 empty label
                f"{p1},stays",       # 6 repeats line 2
                f"{p4},stays,extra")  # 7 too many cells
    with pytest.raises(LabelImportError) as refused:
        _import(engine, data)
    assert [(e.line, e.column) for e in refused.value.errors] == [
        (3, "prediction_id"), (4, "label"), (5, "label"), (6, "prediction_id"), (7, None)]
    messages = [e.message for e in refused.value.errors]
    assert messages[0] == "no prediction 'nope'"
    assert messages[1] == "'maybe' is not a class of churn (stays, churns)"
    assert refused.value.summary == "nothing stored: 5 of 6 rows have problems"
    assert _counts(engine) == before


def test_conflicts_refuse_the_whole_import_then_replace_overwrites_them(
    engine: Engine, ids: list[str]
) -> None:
    p1, p2, p3, _ = ids
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "churns", None),
                                                 LabelEdit(p2, "stays", None)])
    before = _counts(engine)
    data = _csv(f"{p3},churns", f"{p1},stays", f"{p2},stays")
    with pytest.raises(ImportConflictError) as refused:
        _import(engine, data)
    [(line, conflict)] = refused.value.conflicts
    assert (line, conflict.prediction_id, conflict.stored_label, conflict.stored_by) == (
        3, p1, "churns", "bob")
    [error] = refused.value.errors
    assert error.line == 3
    assert error.message.startswith("stored label 'churns' (set by bob at ")
    assert error.message.endswith(" UTC) differs from 'stays'")
    assert "1 of 3 rows would change a stored label" in str(refused.value)
    assert _counts(engine) == before

    result = _import(engine, data, replace=True)
    assert result == ImportResult(rows=3, saved=2, unchanged=1, replaced=1)
    assert _labels(engine)[p1] == ("stays", "ann", "csv", 2)
    with session_scope(engine) as session:
        last = session.scalars(select(FeedbackHistory).order_by(FeedbackHistory.id.desc())
                               .limit(2)).all()
    assert {h.resolution for h in last} == {"replaced_conflict", "new"}
    assert _audit(engine)[-1][3] == {"rows": 3, "saved": 2, "unchanged": 1, "replaced": 1,
                                     "replace": True}


def test_rows_equal_to_the_stored_labels_are_unchanged(engine: Engine, ids: list[str]) -> None:
    p1, *_ = ids
    _import(engine, _csv(f"{p1},churns"))
    before = _counts(engine)
    assert _import(engine, _csv(f"{p1},churns"), actor=BOB) == ImportResult(
        rows=1, saved=0, unchanged=1, replaced=0)
    # Only the import's own audit entry is added.
    assert _counts(engine) == (before[0], before[1], before[2] + 1)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.OPERATOR])
def test_roles_without_import_labels_are_refused_before_reading(
    engine: Engine, ids: list[str], role: Role
) -> None:
    before = _counts(engine)
    with pytest.raises(PermissionDenied, match="may not import labels"):
        _import(engine, b"not even csv", actor=Principal(username="al", role=role))
    with pytest.raises(PermissionDenied, match="sign in first"):
        _import(engine, b"", actor=None)
    assert _counts(engine) == before


def test_the_row_limit_comes_from_the_settings(engine: Engine, ids: list[str]) -> None:
    data = _csv(*(f"{pid},stays" for pid in ids))
    with pytest.raises(LabelImportError, match="at most 3 are imported at once"):
        _import(engine, data, settings=Settings(label_import_max_rows=3))
    assert _counts(engine) == (0, 0, 0)


@pytest.mark.parametrize("when", ["stored before", "stored during the import"])
def test_a_large_import_whose_last_row_conflicts_writes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """5,000 rows in several batches: a conflict on the last one refuses them all, whether
    it is seen in the read (nothing is written) or only when the last batch's insert loses
    the race (the batches written before are rolled back)."""
    model_id, version_id = make_model(engine)
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(T0, "stays", None)] * 5000)
    last = ids[-1]
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(last, "churns", None)])
    if when == "stored during the import":  # the read misses it, as if Bob saved later
        real = labels_repo.current_labels
        monkeypatch.setattr(labels_repo, "current_labels", lambda session, ids: (
            {} if len(ids) > 1 else real(session=session, ids=ids)))
    before = _counts(engine)
    data = _csv(*(f"{pid},stays" for pid in ids))
    with pytest.raises(ImportConflictError) as refused:
        _import(engine, data, settings=Settings(label_import_max_rows=5000))
    [(line, conflict)] = refused.value.conflicts
    assert (line, conflict.prediction_id, conflict.stored_by) == (5001, last, "bob")
    assert _counts(engine) == before == (1, 1, 1)


# --- the command line ----------------------------------------------------------------------

def _file(tmp_path: Path, data: bytes, name: str = "labels.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_cli_imports_as_cli_and_prints_counts(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    p1, p2, *_ = ids
    path = _file(tmp_path, _csv(f"{p1},churns", f"{p2},stays"))
    status, out, err = run_cli("import-labels", path)
    assert status == 0, err
    assert out.strip() == ("labels.csv: 2 rows imported by cli: 2 saved (0 replacing another "
                           "label), 0 unchanged")
    assert {v[1] for v in _labels(engine).values()} == {CLI.username}
    status, out, _ = run_cli("import-labels", path, "--json")
    assert status == 0
    assert json.loads(out) == {"file": "labels.csv", "actor": "cli", "rows": 2, "saved": 0,
                               "unchanged": 2, "replaced": 0, "transactions": 1}


def test_cli_lists_every_bad_line_and_exits_2(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    p1, *_ = ids
    path = _file(tmp_path, _csv(f"{p1},churns", "nope,stays", f"{p1},stays"))
    status, out, err = run_cli("import-labels", path)
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        "error: labels.csv: nothing stored: 2 of 3 rows have problems",
        "  line 3: no prediction 'nope'",
        f"  line 4: prediction '{p1}' is also on line 2",
    ]
    assert _counts(engine) == (0, 0, 0)


def test_cli_conflicts_name_replace_and_replace_overwrites(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    p1, *_ = ids
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "churns", None)])
    path = _file(tmp_path, _csv(f"{p1},stays"))
    status, _, err = run_cli("import-labels", path)
    assert status == 2
    first, second = err.splitlines()
    assert first == ("error: labels.csv: nothing stored: 1 of 1 rows would change a stored "
                     "label (replace them to overwrite); run again with --replace to overwrite "
                     "them")
    assert second.startswith("  line 2: stored label 'churns' (set by bob at ")
    status, out, err = run_cli("import-labels", path, "--replace", "--json")
    assert status == 0, err
    assert json.loads(out)["replaced"] == 1


def test_cli_acts_as_a_named_user(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path
) -> None:
    p1, *_ = ids
    with session_scope(engine, write=True) as session:
        users_repo.create(session=session, username="lee", role="labeler", password_hash="")
        users_repo.create(session=session, username="al", role="analyst", password_hash="")
    path = _file(tmp_path, _csv(f"{p1},churns"))
    status, _, err = run_cli("import-labels", path, "--as", "al")
    assert (status, err.strip()) == (2, "error: al (analyst) may not import labels")
    status, _, err = run_cli("import-labels", path, "--as", "nobody")
    assert (status, err.strip()) == (
        2, "error: no enabled user named 'nobody' (see `users list`)")
    status, out, err = run_cli("import-labels", path, "--as", "Lee")
    assert status == 0, err
    assert "imported by lee" in out
    assert _labels(engine)[p1][:2] == ("churns", "lee")
    assert _audit(engine)[-1][:2] == ("lee", "import_labels")


def test_cli_reads_standard_input(
    engine: Engine, ids: list[str], run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    p1, *_ = ids

    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=io.BytesIO(_csv(f"{p1},stays"))))
    status, out, err = run_cli("import-labels", "-")
    assert status == 0, err
    assert out.startswith("stdin: 1 rows imported by cli")


def test_cli_refuses_a_missing_file_in_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    status, _, err = run_cli("import-labels", str(tmp_path / "absent.csv"))
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert "cannot read" in err
    assert "No such file or directory" in err
