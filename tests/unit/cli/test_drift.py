"""``drift --reference FILE --current FILE``: kinds, files, errors, output and exit status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.cli import main as cli
from services.drift.compare import compare_frames

ROWS = 2000


@pytest.fixture(autouse=True)
def _no_drift_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults, whatever the environment running the tests holds."""
    monkeypatch.delenv("OPSDASH_DRIFT_CONFIG_FILE", raising=False)
    monkeypatch.delenv("OPSDASH_DRIFT_SHARE", raising=False)


def _frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Two normal features (one shifted by ``shift``), a category and a small integer code."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "tenure": rng.normal(shift, 1.0, ROWS),
        "charges": rng.normal(0.0, 1.0, ROWS),
        "plan": rng.choice(["basic", "plus", "pro"], ROWS),
        "region": rng.integers(1, 4, ROWS),
    })


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(["drift", *args])
    out, err = capsys.readouterr()
    return status, out, err


def _pair(tmp_path: Path, reference: pd.DataFrame, current: pd.DataFrame,
          suffixes: tuple[str, str] = (".csv", ".csv")) -> list[str]:
    ref = _write(reference, tmp_path / f"reference{suffixes[0]}")
    cur = _write(current, tmp_path / f"current{suffixes[1]}")
    return ["--reference", str(ref), "--current", str(cur)]


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run a command that must fail: status 2, nothing on stdout, one line on stderr."""
    status, out, err = _run(capsys, *args)
    assert status == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


# --------------------------------------------------------------------------- exit status


def test_same_distribution_is_not_drifted_and_exits_0_even_with_fail_on_drift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, *_pair(tmp_path, _frame(1), _frame(2)), "--fail-on-drift")
    assert (status, err) == (0, "")
    assert out.splitlines()[-1] == "dataset: not drifted (0 of 4 columns, share 0.00 < 0.50)"


def test_a_drifted_dataset_exits_0_and_3_only_with_fail_on_drift(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2, shift=1.0)
    current["charges"] += 1.0
    args = _pair(tmp_path, reference, current)
    status, out, _ = _run(capsys, *args)
    assert status == 0
    assert out.splitlines()[-1] == "dataset: drifted (2 of 4 columns, share 0.50 >= 0.50)"
    status, out, err = _run(capsys, *args, "--fail-on-drift")
    assert (status, err) == (3, "")
    assert "dataset: drifted" in out  # the report is printed all the same
    status, out, _ = _run(capsys, *args, "--fail-on-drift", "--json")
    assert status == 3
    assert json.loads(out)["dataset"]["drifted"] is True


def test_drift_share_option_config_file_and_setting_decide_the_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    args = _pair(tmp_path, _frame(1), _frame(2, shift=1.0))  # 1 of 4 columns drifts
    assert _run(capsys, *args, "--fail-on-drift")[0] == 0
    assert _run(capsys, *args, "--fail-on-drift", "--drift-share", "0.25")[0] == 3
    monkeypatch.setenv("OPSDASH_DRIFT_SHARE", "0.2")
    assert _run(capsys, *args, "--fail-on-drift")[0] == 3
    config = tmp_path / "drift.toml"
    config.write_text("drift_share = 0.3\n", encoding="utf-8")
    monkeypatch.setenv("OPSDASH_DRIFT_CONFIG_FILE", str(config))
    status, out, _ = _run(capsys, *args, "--fail-on-drift")
    assert status == 0
    assert out.splitlines()[-1].endswith("share 0.25 < 0.30)")
    assert _run(capsys, *args, "--fail-on-drift", "--drift-share", "0.25")[0] == 3
    assert _run(capsys, *args, "--fail-on-drift", "--config", "")[0] == 3  # no file: 0.2


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["drift", "--help"])
    assert stopped.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 with --fail-on-drift when the dataset drifted" in text
    assert "--categorical" in text


# --------------------------------------------------------------------------- results


@pytest.mark.parametrize("suffixes", [(".csv", ".csv"), (".parquet", ".parquet"),
                                      (".pq", ".csv"), (".csv", ".parquet")])
def test_json_is_the_engines_report_on_the_same_frames(
        suffixes: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2, shift=0.5)
    status, out, err = _run(capsys, *_pair(tmp_path, reference, current, suffixes), "--json")
    assert (status, err) == (0, "")
    result = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert list(result) == ["reference", "current", "columns", "dataset"]
    assert result["reference"] == {"file": str(tmp_path / f"reference{suffixes[0]}"),
                                   "rows": ROWS}
    assert result["current"]["rows"] == ROWS
    expected = compare_frames(reference, current).to_json()
    assert result["columns"] == expected["columns"]
    assert result["dataset"] == expected["dataset"]
    assert set(result["columns"][0]) == {
        "column", "kind", "test", "statistic", "threshold", "drifted", "score", "psi",
        "reference_rows", "current_rows", "reference_missing", "current_missing",
        "new_categories", "note"}
    assert [c["kind"] for c in result["columns"]] == ["numeric", "numeric", "categorical",
                                                      "numeric"]


def test_table_lists_columns_in_file_order_with_kind_test_and_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2, shift=1.0)
    order = ["region", "tenure", "plan", "charges"]
    args = _pair(tmp_path, reference[order], current[order[::-1]])
    status, out, _ = _run(capsys, *args)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (f"reference {args[1]} ({ROWS:,} rows), "
                        f"current {args[3]} ({ROWS:,} rows)")
    assert lines[1].split() == ["column", "kind", "test", "statistic", "threshold", "drifted",
                                "psi", "notes"]
    rows = [line.split() for line in lines[2:6]]
    assert [r[0] for r in rows] == order
    expected = compare_frames(reference[order], current[order])
    for row in rows:
        column = expected.column(row[0])
        assert row[1:4] == [column.kind, column.test, f"{column.statistic:.4g}"]
        assert row[5] == ("yes" if column.drifted else "no")
        assert row[6] == f"{column.psi:.4g}"
    assert rows[1][5] == "yes"
    assert lines[6] == "dataset: not drifted (1 of 4 columns, share 0.25 < 0.50)"
    assert len(lines) == 7


def test_categorical_option_makes_a_numeric_looking_column_a_category(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2)
    args = _pair(tmp_path, reference, current)
    plain = json.loads(_run(capsys, *args, "--json")[1])
    assert plain["columns"][3]["kind"] == "numeric"
    status, out, _ = _run(capsys, *args, "--categorical", "region, plan", "--json")
    assert status == 0
    result = json.loads(out)
    region = result["columns"][3]
    assert (region["column"], region["kind"], region["test"]) == (
        "region", "categorical", "jensenshannon")
    assert result["columns"] == compare_frames(
        reference.astype({"region": str}), current.astype({"region": str}),
        categorical=["region"]).to_json()["columns"]


def test_a_category_only_in_the_current_file_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2)
    current.loc[:99, "plan"] = "enterprise"
    args = _pair(tmp_path, reference, current)
    result = json.loads(_run(capsys, *args, "--json")[1])
    plan = result["columns"][2]
    assert plan["new_categories"] == ["enterprise"]
    assert plan["note"] == "1 category not in the reference"
    out = _run(capsys, *args)[1]
    plan_line = next(line for line in out.splitlines() if line.startswith("plan "))
    assert plan_line.endswith("1 category not in the reference: enterprise")


def test_missing_cells_are_counted_and_left_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "reference.csv"
    cur = tmp_path / "current.csv"
    values = [f"{v:.3f}" for v in np.random.default_rng(3).normal(size=50)]
    ref.write_text("score,plan\n" + "".join(f"{v},basic\n" for v in values), encoding="utf-8")
    cells = ["", "NA", "   ", "NaN", "null"]
    cur.write_text("score,plan\n" + "".join(f"{v},pro\n" for v in values[:45])
                   + "".join(f"{c},{c}\n" for c in cells), encoding="utf-8")
    status, out, err = _run(capsys, "--reference", str(ref), "--current", str(cur), "--json")
    assert (status, err) == (0, "")
    score, plan = json.loads(out)["columns"]
    assert (score["kind"], score["current_rows"], score["current_missing"]) == ("numeric", 45, 5)
    assert score["note"] == "missing values left out: 0 reference, 5 current"
    assert (plan["kind"], plan["current_missing"], plan["new_categories"]) == (
        "categorical", 5, ["pro"])


def test_a_column_missing_in_one_file_everywhere_is_reported_not_tested(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = _frame(1), _frame(2)
    current["charges"] = np.nan
    status, out, _ = _run(capsys, *_pair(tmp_path, reference, current))
    assert status == 0
    assert "not tested: no values in the current sample" in out
    assert out.splitlines()[-1] == (
        "dataset: not drifted (0 of 3 columns, share 0.00 < 0.50; 1 not tested)")


def test_a_config_file_sets_a_columns_test_and_threshold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "drift.toml"
    config.write_text('[features.tenure]\ntest = "psi"\nthreshold = 0.3\n', encoding="utf-8")
    reference, current = _frame(1), _frame(2, shift=0.5)
    args = _pair(tmp_path, reference, current)
    result = json.loads(_run(capsys, *args, "--config", str(config), "--json")[1])
    tenure = result["columns"][0]
    assert (tenure["test"], tenure["threshold"]) == ("psi", 0.3)
    assert tenure["statistic"] == tenure["psi"]


# --------------------------------------------------------------------------- errors


def test_a_file_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _write(_frame(1), tmp_path / "reference.csv")
    message = _error(capsys, "--reference", str(ref), "--current", str(tmp_path / "nope.csv"))
    assert message == f"the current file {tmp_path / 'nope.csv'} does not exist"


def test_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    ref = _write(_frame(1), tmp_path / "reference.csv")
    message = _error(capsys, "--reference", str(folder), "--current", str(ref))
    assert message == f"the reference file {folder} is a directory"


@pytest.mark.parametrize("name", ["reference.txt", "reference", "reference.csv.gz"])
def test_a_file_that_is_neither_csv_nor_parquet(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text("a\n1\n", encoding="utf-8")
    cur = _write(_frame(1), tmp_path / "current.csv")
    message = _error(capsys, "--reference", str(path), "--current", str(cur))
    assert message == (f"the reference file {path} is neither CSV nor Parquet: its name must "
                       "end in .csv, .parquet or .pq")


def test_a_parquet_name_on_other_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "reference.parquet"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    cur = _write(_frame(1), tmp_path / "current.csv")
    message = _error(capsys, "--reference", str(path), "--current", str(cur))
    assert message.startswith(f"the reference file {path}: reference.parquet is not a "
                              "readable Parquet file")


@pytest.mark.parametrize(("content", "expected"), [
    (b"a,b\n1,2\n\xff,3\n", "line 3: not UTF-8 text (byte 0xff at position 1); "
                            "save the file as UTF-8"),
    (b"a,\xe9\n1,2\n", "line 1 (the header): not UTF-8 text (byte 0xe9 at position 3); "
                       "save the file as UTF-8"),
    (b"a,b\n1,2\n3\n", "line 3: has 1 fields; the header has 2"),
    (b'a,b\n1,"x\ny"\n3,4,5\n', "line 4: has 3 fields; the header has 2"),
    (b"a,a\n1,2\n", "column name(s) repeated in the header: a"),
])
def test_a_csv_file_that_cannot_be_read_names_the_line(
        content: bytes, expected: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cur = tmp_path / "current.csv"
    cur.write_bytes(content)
    ref = tmp_path / "reference.csv"
    ref.write_text("a,b\n1,2\n", encoding="utf-8")
    message = _error(capsys, "--reference", str(ref), "--current", str(cur))
    assert message == f"the current file {cur}: {expected}"


def test_a_byte_order_mark_is_fine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "reference.csv"
    ref.write_bytes(b"\xef\xbb\xbfa,b\n1,x\n2,y\n")
    cur = tmp_path / "current.csv"
    cur.write_bytes(b"a,b\n1,x\n2,y\n")
    status, out, err = _run(capsys, "--reference", str(ref), "--current", str(cur), "--json")
    assert (status, err) == (0, "")
    assert [c["column"] for c in json.loads(out)["columns"]] == ["a", "b"]


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "is empty: no header and no rows"),
    (b"\n\n", "is empty: no header"),
    (b"a,b\n", "has a header but no rows"),
    (b"a,b\n\n\n", "has a header but no rows"),
])
def test_an_empty_csv_file_says_which(content: bytes, expected: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "reference.csv"
    empty.write_bytes(content)
    cur = tmp_path / "current.csv"
    cur.write_text("a,b\n1,2\n", encoding="utf-8")
    message = _error(capsys, "--reference", str(empty), "--current", str(cur))
    assert message == f"the reference file {empty} {expected}"


def test_a_parquet_file_without_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _write(_frame(1), tmp_path / "reference.csv")
    cur = _write(_frame(1).iloc[:0], tmp_path / "current.parquet")
    message = _error(capsys, "--reference", str(ref), "--current", str(cur))
    assert message == f"the current file {cur} has no rows"


def test_mismatched_columns_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _frame(1).rename(columns={"plan": "tier"})
    current = _frame(2).drop(columns=["region"])
    message = _error(capsys, *_pair(tmp_path, reference, current))
    assert message == ("the files have different columns (only in the reference: tier, region;"
                       " only in the current file: plan)")


def test_an_unknown_categorical_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, *_pair(tmp_path, _frame(1), _frame(2)),
                     "--categorical", "plan,regoin")
    assert message == "--categorical names columns the files do not have: regoin"


def test_text_in_a_numeric_column_names_column_file_line_and_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "reference.csv"
    ref.write_text("age,note\n31,a\n42,b\n", encoding="utf-8")
    cur = tmp_path / "current.csv"
    # A quoted value over two lines and a blank line come before the bad record (line 7).
    cur.write_text('age,note\n30,"two\nlines"\n\n35,c\n 40 ,d\nforty,e\n50,f\n',
                   encoding="utf-8")
    message = _error(capsys, "--reference", str(ref), "--current", str(cur))
    assert message == (f"column 'age' mixes numbers and text: 'forty' at line 7 of the current "
                       f"file {cur} is not a number; if 'age' is a category, pass "
                       "--categorical age")
    status, out, _ = _run(capsys, "--reference", str(ref), "--current", str(cur),
                          "--categorical", "age", "--json")
    assert status == 0
    assert json.loads(out)["columns"][0]["new_categories"] == [" 40 ", "30", "35", "50",
                                                               "forty"]


def test_numbers_in_one_file_and_text_in_the_other_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "reference.csv"
    ref.write_text("code\n1\n2\n", encoding="utf-8")
    cur = tmp_path / "current.csv"
    cur.write_text("code\nA1\nB2\n", encoding="utf-8")
    message = _error(capsys, "--reference", str(ref), "--current", str(cur))
    assert message.startswith(f"column 'code' mixes numbers and text: 'A1' at line 2 of the "
                              f"current file {cur} is not a number")


def test_a_parquet_text_column_mixing_numbers_names_the_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _write(pd.DataFrame({"size": ["1", "2", None, "3"]}), tmp_path / "reference.parquet")
    cur = _write(pd.DataFrame({"size": ["1", "nan", "big", "4"]}), tmp_path / "current.pq")
    message = _error(capsys, "--reference", str(ref), "--current", str(cur))
    assert message.startswith(f"column 'size' mixes numbers and text: 'big' at row 3 of the "
                              f"current file {cur} is not a number")
    cur = _write(pd.DataFrame({"size": ["1", "nan", " ", "4"]}), tmp_path / "current.pq")
    status, out, _ = _run(capsys, "--reference", str(ref), "--current", str(cur), "--json")
    assert status == 0
    size = json.loads(out)["columns"][0]
    assert (size["kind"], size["reference_missing"], size["current_missing"]) == (
        "numeric", 1, 2)


@pytest.mark.parametrize(("config", "expected"), [
    ("drift_share = \n", "not valid TOML"),
    ('[features.plan]\ntest = "ks"\n', "test 'ks' cannot judge the categorical column 'plan'"),
    ("[features.plan]\ncolour = 1\n", "features.plan: unknown key 'colour'"),
])
def test_a_bad_config_file(config: str, expected: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "drift.toml"
    path.write_text(config, encoding="utf-8")
    message = _error(capsys, *_pair(tmp_path, _frame(1), _frame(2)), "--config", str(path))
    assert expected in message


def test_a_config_file_that_does_not_exist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "drift.toml"
    message = _error(capsys, *_pair(tmp_path, _frame(1), _frame(2)), "--config", str(missing))
    assert message.startswith(f"drift configuration {missing}: cannot be read")


@pytest.mark.parametrize("share", ["0", "1.5", "nan"])
def test_a_drift_share_out_of_range(share: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    message = _error(capsys, *_pair(tmp_path, _frame(1), _frame(2)), "--drift-share", share)
    assert message == f"--drift-share must be in (0, 1], got {float(share)}"
