"""Label CSV export: filters, paging, formula safety, the round trip, roles, the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.repositories import registry
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access import CLI, PermissionDenied, Principal, Role
from services.labels.export import EXPORT_COLUMNS, export_csv
from services.labels.importer import ImportResult, import_labels
from services.labels.save import LabelEdit, save_labels
from services.settings import Settings
from tests.cli_runner import RunCli
from tests.factories import log_predictions, make_model

ANN = Principal(username="ann", role=Role.LABELER)
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
EVIL = '=HYPERLINK("http://evil.example","x")'


def _rows(lines: object) -> list[dict[str, str]]:
    text = "".join(lines)  # type: ignore[call-overload]
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def store(engine: Engine) -> dict[str, list[str]]:
    """A model whose classes and labelers a spreadsheet would run; two versions."""
    model_id, v1 = make_model(engine, name="triage", classes=(EVIL, "-1", "ok"))
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id,
                                  artifact_path="/nonexistent/v2.pkl", artifact_sha256="0" * 64,
                                  created_by="test").id
    first = log_predictions(engine, model_id=model_id, version_id=v1,
                            rows=[(T0 + timedelta(hours=h), "ok", None) for h in range(3)])
    # Two predictions at the same instant: paging must keep both.
    second = log_predictions(engine, model_id=model_id, version_id=v2,
                             rows=[(T0 + timedelta(hours=5), EVIL, None)] * 2)
    save_labels(engine=engine, actor=ANN, source="csv",
                edits=[LabelEdit(first[0], EVIL, None, labeler="@vendor"),
                       LabelEdit(first[2], "-1", None),
                       LabelEdit(second[1], "ok", None, labeler="=cmd|' /C calc'!A0")])
    return {"v1": first, "v2": second}


def test_the_export_has_the_columns_and_a_row_per_prediction_in_time_order(
    engine: Engine, store: dict[str, list[str]]
) -> None:
    rows = _rows(export_csv(engine=engine, actor=ANN, model="triage"))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert len(rows) == 5
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    first = rows[0]
    assert first["prediction_id"] == store["v1"][0]
    assert (first["timestamp"], first["model"], first["version"], first["predicted"],
            first["top_score"]) == (T0.isoformat(), "triage", "1", "ok", "0.8")
    assert first["labelled_at"].endswith("+00:00")
    assert (rows[1]["label"], rows[1]["labeler"], rows[1]["labelled_at"]) == ("", "", "")


def test_cells_a_spreadsheet_would_run_start_with_an_apostrophe(
    engine: Engine, store: dict[str, list[str]]
) -> None:
    rows = _rows(export_csv(engine=engine, actor=ANN, model="triage"))
    by_id = {r["prediction_id"]: r for r in rows}
    assert by_id[store["v1"][0]]["label"] == "'" + EVIL
    assert by_id[store["v1"][0]]["labeler"] == "'@vendor"
    assert by_id[store["v1"][2]]["label"] == "'-1"
    assert by_id[store["v2"][0]]["predicted"] == "'" + EVIL
    assert by_id[store["v2"][1]]["labeler"] == "'=cmd|' /C calc'!A0"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_filters_version_window_and_labelled_only(
    engine: Engine, store: dict[str, list[str]]
) -> None:
    def ids(**filters: object) -> list[str]:
        return [r["prediction_id"] for r in
                _rows(export_csv(engine=engine, actor=ANN, model="triage", **filters))]

    v1, v2 = store["v1"], store["v2"]
    assert ids(version=1) == v1
    assert sorted(ids(version=2)) == sorted(v2)
    assert ids(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)) == v1[1:]
    assert set(ids(labelled_only=True)) == {v1[0], v1[2], v2[1]}
    assert ids(version=1, labelled_only=True, since=T0 + timedelta(minutes=1)) == [v1[2]]


@pytest.mark.parametrize("page_rows", [1, 2, 3, 1000])
def test_paging_returns_every_row_once(
    engine: Engine, store: dict[str, list[str]], page_rows: int
) -> None:
    rows = _rows(export_csv(engine=engine, actor=ANN, model="triage", page_rows=page_rows))
    assert sorted(r["prediction_id"] for r in rows) == sorted(store["v1"] + store["v2"])


def test_an_exported_file_imports_back_unchanged(
    engine: Engine, store: dict[str, list[str]]
) -> None:
    data = "".join(export_csv(engine=engine, actor=ANN, model="triage",
                              labelled_only=True)).encode()
    result = import_labels(engine=engine, actor=ANN, data=data, filename="export.csv",
                           settings=Settings())
    # Two rows name other labelers, which only an admin may do; unchanged, they store nothing.
    assert result == ImportResult(rows=3, saved=0, unchanged=3, replaced=0, named_others=2)


def test_the_caller_model_version_and_window_are_checked_at_once(
    engine: Engine, store: dict[str, list[str]]
) -> None:
    with pytest.raises(PermissionDenied, match="may not view the labeling page"):
        export_csv(engine=engine, actor=Principal(username="al", role=Role.ANALYST),
                   model="triage")
    with pytest.raises(RegistryError, match="no model named 'nope'"):
        export_csv(engine=engine, actor=ANN, model="nope")
    with pytest.raises(RegistryError, match="has no version 9"):
        export_csv(engine=engine, actor=ANN, model="triage", version=9)
    with pytest.raises(ValueError, match="timezone-aware"):
        export_csv(engine=engine, actor=ANN, model="triage", since=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="before its end"):
        export_csv(engine=engine, actor=ANN, model="triage", since=T0, until=T0)
    operator = Principal(username="op", role=Role.OPERATOR)
    assert len(_rows(export_csv(engine=engine, actor=operator, model="triage"))) == 5


# --- the command line ----------------------------------------------------------------------

def test_cli_exports_to_a_file_and_imports_it_back(
    store: dict[str, list[str]], run_cli: RunCli, tmp_path: Path
) -> None:
    out_file = tmp_path / "labels.csv"
    status, out, err = run_cli("export-labels", "--model", "triage", "--labelled-only",
                               "--output", str(out_file))
    assert status == 0, err
    assert out.strip() == f"wrote 3 labelled predictions of triage to {out_file}"
    assert not (tmp_path / "labels.csv.part").exists()
    status, out, err = run_cli("import-labels", str(out_file), "--json")
    assert status == 0, err
    assert json.loads(out)["unchanged"] == 3


def test_cli_exports_to_standard_output_with_a_window(
    store: dict[str, list[str]], run_cli: RunCli
) -> None:
    since = (T0 + timedelta(hours=1)).replace(tzinfo=None).isoformat()  # UTC without offset
    status, out, err = run_cli("export-labels", "--model", "triage", "--version", "1",
                               "--since", since)
    assert status == 0, err
    assert [r["prediction_id"] for r in _rows([out])] == store["v1"][1:]


def test_cli_export_json_summary(
    store: dict[str, list[str]], run_cli: RunCli, tmp_path: Path
) -> None:
    status, out, _ = run_cli("export-labels", "--model", "triage", "--output",
                             str(tmp_path / "x.csv"), "--json")
    assert status == 0
    assert json.loads(out) == {"model": "triage", "version": None, "since": None,
                               "until": None, "labelled_only": False, "rows": 5,
                               "output": str(tmp_path / "x.csv")}


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope"], "error: no model named 'nope'"),
    (["--model", "triage", "--version", "7"], "error: model 'triage' has no version 7"),
    (["--model", "triage", "--since", "yesterday"],
     "error: --since 'yesterday' is not an ISO 8601 time, e.g. 2024-05-01T12:00"),
    (["--model", "triage", "--json"],
     "error: --json prints a summary, so it needs --output FILE (the CSV would share "
     "standard output)"),
])
def test_cli_export_errors_are_one_line(
    store: dict[str, list[str]], run_cli: RunCli, args: list[str], message: str
) -> None:
    status, out, err = run_cli("export-labels", *args)
    assert (status, out, err.strip()) == (2, "", message)


def test_cli_export_into_a_missing_folder_leaves_nothing(
    store: dict[str, list[str]], run_cli: RunCli, tmp_path: Path
) -> None:
    status, _, err = run_cli("export-labels", "--model", "triage", "--output",
                             str(tmp_path / "absent" / "x.csv"))
    assert status == 2
    assert err.startswith(f"error: cannot write {tmp_path / 'absent' / 'x.csv'}: ")
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("command", ["import-labels", "export-labels"])
def test_both_commands_have_help(command: str, run_cli: RunCli) -> None:
    with pytest.raises(SystemExit) as done:
        run_cli(command, "--help")
    assert done.value.code == 0


def test_cli_principal_may_export(engine: Engine, store: dict[str, list[str]]) -> None:
    assert len(_rows(export_csv(engine=engine, actor=CLI, model="triage"))) == 5
