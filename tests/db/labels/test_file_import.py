"""Large label files from the command line: checked whole, then written in bounded
transactions, resumable by running the same import again."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from db.models import AuditLog, Feedback, FeedbackHistory
from db.session import session_scope
from services.access import Principal, Role
from services.labels.csv_file import FileLimits
from services.labels.file_import import (
    ImportStoppedError,
    check_label_file,
    import_label_file,
    write_label_file,
)
from services.labels.importer import ImportConflictError, ImportResult, LabelImportError
from services.labels.save import LabelEdit, save_labels
from services.settings import Settings
from tests.cli_runner import RunCli
from tests.factories import log_predictions, make_model

#: The vendor's file names its own labeler, which only an admin may keep.
ANN = Principal(username="ann", role=Role.ADMIN)
BOB = Principal(username="bob", role=Role.LABELER)
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
#: The page's limit in these tests: a file of more rows is written in batches.
PAGE_ROWS = 5
SETTINGS = Settings(label_import_max_rows=PAGE_ROWS)
LIMITS = FileLimits.command_line(SETTINGS)


@pytest.fixture
def ids(engine: Engine) -> list[str]:
    """Twelve unlabelled churn predictions (classes stays, churns)."""
    model_id, version_id = make_model(engine)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0, "stays", None)] * 12)


def _label(i: int) -> str:
    return "churns" if i % 3 == 0 else "stays"


def _file(tmp_path: Path, lines: list[str], name: str = "vendor.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(["prediction_id,label,labeler", *lines, ""]), encoding="utf-8")
    return path


def _good(tmp_path: Path, ids: list[str]) -> Path:
    return _file(tmp_path, [f"{pid},{_label(i)},vendor-7" for i, pid in enumerate(ids)])


def _labels(engine: Engine) -> dict[str, tuple[str, str, str, int]]:
    with session_scope(engine) as session:
        return {pid: (label, labeler, source, revision) for pid, label, labeler, source, revision
                in session.execute(select(Feedback.prediction_id, Feedback.label,
                                          Feedback.labeler, Feedback.source, Feedback.revision))}


def _history(engine: Engine) -> list[tuple[str, str, str]]:
    with session_scope(engine) as session:
        return sorted((h.prediction_id, h.new_label, h.resolution)
                      for h in session.scalars(select(FeedbackHistory)))


def _audit(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        return [(a.actor, a.action, a.object_id, dict(a.details))
                for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]


def _imports(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """The import's own audit entries (not the ``label`` entry of each change)."""
    return [(action, details) for _, action, _, details in _audit(engine)
            if action != "label"]


def _expected(ids: list[str]) -> dict[str, tuple[str, str, str, int]]:
    """The store after one uninterrupted import of :func:`_good`."""
    return {pid: (_label(i), "vendor-7", "csv", 1) for i, pid in enumerate(ids)}


def _import(engine: Engine, path: Path, *, replace: bool = False,
            batch_rows: int = 5) -> ImportResult:
    return import_label_file(engine=engine, actor=ANN, path=path, filename=path.name,
                             replace=replace, settings=SETTINGS, batch_rows=batch_rows)


def test_a_file_over_the_pages_limit_is_written_in_transactions_with_audit(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    result = _import(engine, _good(tmp_path, ids))
    assert result == ImportResult(rows=12, saved=12, unchanged=0, replaced=0, transactions=3)
    assert _labels(engine) == _expected(ids)
    assert _history(engine) == sorted((pid, _label(i), "new") for i, pid in enumerate(ids))
    imports = _imports(engine)
    assert [action for action, _ in imports] == ["import_labels_batch"] * 3 + ["import_labels"]
    run = imports[0][1]["import"]
    assert [(d["import"], d["transaction"], d["of"], d["lines"], d["rows"], d["saved"])
            for _, d in imports[:3]] == [(run, 1, 3, [2, 6], 5, 5), (run, 2, 3, [7, 11], 5, 5),
                                         (run, 3, 3, [12, 13], 2, 2)]
    summary = imports[-1][1]
    assert summary == {"import": run, "rows": 12, "saved": 12, "unchanged": 0, "replaced": 0,
                       "replace": False, "transactions": 3}
    assert {object_id for _, action, object_id, _ in _audit(engine)
            if action != "label"} == {"vendor.csv"}


def test_a_labelers_large_file_naming_someone_else_is_stored_as_the_labelers_own(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    carol = Principal(username="carol", role=Role.LABELER)
    path = _good(tmp_path, ids)
    result = import_label_file(engine=engine, actor=carol, path=path, filename=path.name,
                               settings=SETTINGS, batch_rows=5)
    assert (result.transactions, result.saved, result.named_others) == (3, 12, 12)
    assert {labeler for _, labeler, _, _ in _labels(engine).values()} == {"carol"}
    imports = _imports(engine)
    assert [d.get("named_others_as_importer") for _, d in imports] == [5, 5, 2, 12]


def test_every_change_has_its_label_audit_entry(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    _import(engine, _good(tmp_path, ids))
    entries = [(object_id, details["new"], details["labeler"])
               for actor, action, object_id, details in _audit(engine) if action == "label"]
    assert sorted(entries) == sorted((pid, _label(i), "vendor-7") for i, pid in enumerate(ids))


def test_a_bad_line_at_the_end_stores_nothing(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    lines = [f"{pid},{_label(i)}," for i, pid in enumerate(ids)]
    lines += ["nope,stays,", f"{ids[0]},maybe,", f"{ids[1]},stays,\u0007x"]
    path = _file(tmp_path, lines)
    with pytest.raises(LabelImportError) as refused:
        _import(engine, path)
    assert [(e.line, e.column) for e in refused.value.errors] == [
        (14, "prediction_id"), (15, "prediction_id"), (15, "label"), (16, "labeler"),
        (16, "prediction_id")]
    assert refused.value.errors[0].message == "no prediction 'nope'"
    assert refused.value.errors[1].message == f"prediction '{ids[0]}' is also on line 2"
    assert refused.value.summary == "nothing stored: 3 of 15 rows have problems"
    assert _labels(engine) == {}
    assert _audit(engine) == []


def test_a_label_outside_the_models_classes_is_found_in_any_batch(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    lines = [f"{pid},{'maybe' if i == 11 else 'stays'}," for i, pid in enumerate(ids)]
    with pytest.raises(LabelImportError) as refused:
        _import(engine, _file(tmp_path, lines))
    [error] = refused.value.errors
    assert (error.line, error.message) == (13, "'maybe' is not a class of churn (stays, churns)")
    assert _labels(engine) == {}


def test_conflicts_are_found_before_anything_is_written_then_replace_overwrites(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(ids[11], "churns", None)])
    path = _good(tmp_path, ids)  # line 13: ids[11], stays
    before = _labels(engine), len(_audit(engine))
    with pytest.raises(ImportConflictError) as refused:
        _import(engine, path)
    [(line, conflict)] = refused.value.conflicts
    assert (line, conflict.stored_label, conflict.stored_by) == (13, "churns", "bob")
    assert (_labels(engine), len(_audit(engine))) == before

    result = _import(engine, path, replace=True)
    assert result == ImportResult(rows=12, saved=12, unchanged=0, replaced=1, transactions=3)
    assert _labels(engine)[ids[11]] == ("stays", "vendor-7", "csv", 2)


def test_an_interrupted_import_finishes_when_run_again(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    path = _good(tmp_path, ids)
    checked = check_label_file(engine=engine, actor=ANN, path=path, filename=path.name,
                               replace=False, limits=LIMITS)
    assert checked.rows == 12
    writing = write_label_file(engine=engine, actor=ANN, checked=checked, batch_rows=5)
    done = list(itertools.islice(writing, 2))  # stopped between the 2nd and 3rd transaction
    writing.close()
    assert [(t.number, t.of, t.last_line, t.saved) for t in done] == [(1, 3, 6, 5),
                                                                     (2, 3, 11, 5)]
    assert _labels(engine) == {pid: v for pid, v in _expected(ids).items() if pid in ids[:10]}
    first = _imports(engine)
    assert [a for a, _ in first] == ["import_labels_batch"] * 2  # no summary: not finished

    result = _import(engine, path)
    assert result == ImportResult(rows=12, saved=2, unchanged=10, replaced=0, transactions=3)
    # The same store as one uninterrupted import: each label once, one history row and one
    # label audit entry per label.
    assert _labels(engine) == _expected(ids)
    assert _history(engine) == sorted((pid, _label(i), "new") for i, pid in enumerate(ids))
    assert sorted(o for _, a, o, _ in _audit(engine) if a == "label") == sorted(ids)
    second = _imports(engine)[2:]
    assert [a for a, _ in second] == ["import_labels_batch"] * 3 + ["import_labels"]
    assert [(d["saved"], d["unchanged"]) for _, d in second[:3]] == [(0, 5), (0, 5), (2, 0)]
    assert second[-1][1]["import"] != first[0][1]["import"]


def test_a_label_changed_after_the_check_stops_the_import_and_keeps_what_was_written(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    path = _good(tmp_path, ids)
    checked = check_label_file(engine=engine, actor=ANN, path=path, filename=path.name,
                               replace=False, limits=LIMITS)
    # Bob labels line 13's prediction differently while the import runs.
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(ids[11], "churns", None)])
    writing = write_label_file(engine=engine, actor=ANN, checked=checked, batch_rows=5)
    with pytest.raises(ImportStoppedError) as stopped:
        list(writing)
    assert stopped.value.transactions == 2
    assert stopped.value.stored_through == 11
    [(line, conflict)] = stopped.value.conflicts
    assert (line, conflict.stored_by) == (13, "bob")
    assert str(stopped.value).startswith(
        "stopped after 2 of 3 transactions (the rows of lines 2 to 11 are stored): 1 row "
        "would change a stored label; run the same import again to finish it: line 13: "
        "stored label 'churns' (set by bob at ")
    stored = _labels(engine)
    assert {pid: stored[pid] for pid in ids[:10]} == {pid: _expected(ids)[pid]
                                                      for pid in ids[:10]}
    assert ids[10] not in stored  # the third transaction was rolled back whole
    assert stored[ids[11]] == ("churns", "bob", "ui", 1)

    with pytest.raises(ImportConflictError):  # the next run names it before writing
        _import(engine, path)
    assert _import(engine, path, replace=True).replaced == 1
    assert _labels(engine) == {**_expected(ids), ids[11]: ("stays", "vendor-7", "csv", 2)}


def test_a_file_changed_after_the_check_is_not_written(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    path = _good(tmp_path, ids)
    checked = check_label_file(engine=engine, actor=ANN, path=path, filename=path.name,
                               replace=False, limits=LIMITS)
    _file(tmp_path, [f"{ids[0]},stays,", "x" * 50])
    with pytest.raises(LabelImportError, match="the file changed since it was checked"):
        list(write_label_file(engine=engine, actor=ANN, checked=checked, batch_rows=5))
    assert _labels(engine) == {}


def test_a_file_within_the_pages_limit_is_one_transaction_as_on_the_page(
    engine: Engine, ids: list[str], tmp_path: Path
) -> None:
    path = _good(tmp_path, ids[:PAGE_ROWS])
    result = _import(engine, path, batch_rows=2)
    assert result == ImportResult(rows=5, saved=5, unchanged=0, replaced=0, transactions=1)
    assert _imports(engine) == [("import_labels", {"rows": 5, "saved": 5, "unchanged": 0,
                                                   "replaced": 0, "replace": False})]


# --- the command line ----------------------------------------------------------------------

def test_cli_imports_a_file_over_the_pages_row_limit(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_MAX_ROWS", str(PAGE_ROWS))
    path = _good(tmp_path, ids)
    status, out, err = run_cli("import-labels", str(path), "--batch-rows", "5")
    assert status == 0, err
    assert out.strip() == ("vendor.csv: 12 rows imported by cli in 3 transactions: 12 saved "
                           "(0 replacing another label), 0 unchanged")
    assert _labels(engine) == {pid: (label, "vendor-7", "csv", 1)
                               for pid, (label, *_) in _expected(ids).items()}
    status, out, err = run_cli("import-labels", str(path), "--json")
    assert status == 0, err
    assert json.loads(out) == {"file": "vendor.csv", "actor": "cli", "rows": 12, "saved": 0,
                               "unchanged": 12, "replaced": 0, "transactions": 3}


def test_cli_refuses_a_file_over_its_own_row_limit_naming_it(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_MAX_ROWS", "3")
    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_CLI_MAX_ROWS", "10")
    status, out, err = run_cli("import-labels", str(_good(tmp_path, ids)))
    assert (status, out) == (2, "")
    assert err.strip() == ("error: vendor.csv: the file has 12 rows; at most 10 are imported "
                           "at once (OPSDASH_LABEL_IMPORT_CLI_MAX_ROWS); split it")
    assert _labels(engine) == {}


def test_cli_imports_a_large_file_from_standard_input_within_its_byte_limit(
    engine: Engine, ids: list[str], run_cli: RunCli, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_MAX_ROWS", str(PAGE_ROWS))
    data = _good(tmp_path, ids).read_bytes()
    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES", str(len(data) - 1))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=io.BytesIO(data)))
    status, _, err = run_cli("import-labels", "-")
    assert status == 2
    assert err.strip() == (f"error: stdin: the file is larger than {len(data) - 1:,} bytes "
                           "(the limit, OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES); split it")
    assert _labels(engine) == {}

    monkeypatch.setenv("OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES", str(len(data)))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(buffer=io.BytesIO(data)))
    status, out, err = run_cli("import-labels", "-")
    assert status == 0, err
    assert out.startswith("stdin: 12 rows imported by cli in 3 transactions: 12 saved")
    assert _labels(engine) == _expected(ids)
    assert {object_id for _, action, object_id, _ in _audit(engine)
            if action != "label"} == {"stdin"}
