"""``import-labels --batch-rows``: a transaction never holds more rows than the page's
import, and a bad value is refused before the file or the store is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.main import main


@pytest.mark.parametrize("value", ["0", "12001", "-5"])
def test_batch_rows_out_of_range_is_refused_naming_the_limit(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPSDASH_LABEL_IMPORT_MAX_ROWS", raising=False)
    absent = tmp_path / "absent.csv"
    assert main(["import-labels", str(absent), "--batch-rows", value]) == 2
    assert capsys.readouterr().err == (
        "error: --batch-rows must be 1 to 12,000 (one transaction holds at most "
        "OPSDASH_LABEL_IMPORT_MAX_ROWS rows)\n")


def test_batch_rows_must_be_a_whole_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["import-labels", "labels.csv", "--batch-rows", "many"])
    assert exited.value.code == 2
    assert "--batch-rows: invalid int value: 'many'" in capsys.readouterr().err
