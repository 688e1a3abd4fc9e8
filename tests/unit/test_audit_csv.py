"""The audit CSV export is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from services.audit import CSV_COLUMNS, AuditEntry, audit_csv

TS = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _entry(**fields: object) -> AuditEntry:
    values: dict[str, object] = {"id": 1, "ts": TS, "actor": "ann", "action": "promote",
                                 "object_type": "model_version", "object_id": "churn:v3",
                                 "details": {}}
    values.update(fields)
    return AuditEntry(**values)  # type: ignore[arg-type]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_export_has_a_header_and_one_row_per_entry() -> None:
    rows = _rows(audit_csv([_entry(details={"reason": "better recall", "from": 2}),
                            _entry(id=2, action="rollback")]))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1] == ["2026-11-24T09:30:00+00:00", "ann", "promote", "model_version",
                       "churn:v3", '{"from":2,"reason":"better recall"}']
    assert rows[2][2] == "rollback"
    assert len(rows) == 3


@pytest.mark.parametrize(
    "dangerous",
    ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"],
)
def test_cells_a_spreadsheet_would_run_get_a_leading_apostrophe(dangerous: str) -> None:
    rows = _rows(audit_csv([_entry(actor=dangerous, object_id=dangerous)]))
    assert rows[1][1] == "'" + dangerous
    assert rows[1][4] == "'" + dangerous


def test_harmless_cells_are_left_alone() -> None:
    rows = _rows(audit_csv([_entry(actor="a=b", object_id="x-1")]))
    assert rows[1][1] == "a=b"
    assert rows[1][4] == "x-1"


def test_details_with_commas_quotes_and_newlines_survive_a_round_trip() -> None:
    details = {"note": 'said "hi",\nthen left', "name": "=cmd"}
    rows = _rows(audit_csv([_entry(details=details)]))
    assert rows[1][5] == '{"name":"=cmd","note":"said \\"hi\\",\\nthen left"}'


def test_no_entries_give_just_the_header() -> None:
    assert _rows(audit_csv([])) == [list(CSV_COLUMNS)]
