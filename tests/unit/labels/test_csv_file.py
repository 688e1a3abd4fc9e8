"""The label CSV parser: every bad upload is refused, each bad row named by its line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.csv_cells import FORMULA_START, safe_cell, unescape_cell
from services.labels.csv_file import (
    IGNORED_COLUMNS,
    LISTED_IN_MESSAGE,
    LabelImportError,
    LabelRow,
    RowError,
    check_rows,
    parse_label_csv,
)


def _refused(data: bytes, **limits: int) -> LabelImportError:
    with pytest.raises(LabelImportError) as refused:
        parse_label_csv(data, **limits)
    return refused.value


def _lines(error: LabelImportError) -> list[tuple[int, str | None, str | None]]:
    return [(e.line, e.prediction_id, e.column) for e in error.errors]


def test_a_good_file_gives_its_rows_with_their_lines() -> None:
    rows = parse_label_csv(b"prediction_id,label\r\np1,stays\r\np2,churns\r\n")
    assert rows == [LabelRow(2, "p1", "stays"), LabelRow(3, "p2", "churns")]


def test_columns_come_in_any_order_and_cells_are_trimmed() -> None:
    data = b" label , labeler,prediction_id\n churns ,  ann , p1 \n\n\nstays,,p2\n"
    assert parse_label_csv(data) == [LabelRow(2, "p1", "churns", "ann"),
                                     LabelRow(5, "p2", "stays", None)]


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    data = "\ufeffprediction_id,label,labeler\np1,stays,zoë\n".encode()
    assert parse_label_csv(data) == [LabelRow(2, "p1", "stays", "zoë")]


def test_quoted_cells_may_hold_commas() -> None:
    data = b'prediction_id,label\np1,"billing, refunds"\n'
    assert parse_label_csv(data) == [LabelRow(2, "p1", "billing, refunds")]


def test_an_exported_file_is_accepted_with_its_extra_columns_ignored() -> None:
    header = ",".join(("prediction_id", *IGNORED_COLUMNS, "label", "labeler"))
    data = f"{header}\np1,{','.join('x' * len(IGNORED_COLUMNS))},'=SUM(A1),'@bob\n".encode()
    # The apostrophe an export puts before a formula character is taken off again.
    assert parse_label_csv(data) == [LabelRow(2, "p1", "=SUM(A1)", "@bob")]


@pytest.mark.parametrize("data", [b"", b"   \n\n", b",,\n,\n"], ids=["empty", "blank", "commas"])
def test_an_empty_file_is_refused(data: bytes) -> None:
    error = _refused(data)
    assert str(error) == ("the file is empty; its first line must be the header "
                          "prediction_id,label[,labeler]")
    assert error.errors == []


def test_a_header_without_rows_is_refused() -> None:
    assert str(_refused(b"prediction_id,label\n\n")) == "the file has a header but no rows"


def test_a_missing_column_is_named() -> None:
    error = _refused(b"prediction_id,labeler\np1,ann\n")
    assert [str(e) for e in error.errors] == ["line 1: missing column 'label'"]


def test_extra_repeated_and_miscased_columns_are_all_named() -> None:
    error = _refused(b"Prediction_ID,label,comment,label,\np1,stays,x,y,z\n")
    assert [e.message for e in error.errors] == [
        "unknown column 'Prediction_ID' (column names are lower case: 'prediction_id')",
        "unknown column 'comment'",
        "an empty column name (column 5)",
        "missing column 'prediction_id'",
        "column 'label' appears 2 times",
    ]
    assert {e.line for e in error.errors} == {1}
    assert "header must name the columns prediction_id,label[,labeler]" in str(error)


def test_a_file_that_is_not_utf8_names_the_line_and_byte_offset() -> None:
    data = "prediction_id,label\np1,stays\np2,café\n".encode("latin-1")
    error = _refused(data)
    offset = data.index(b"\xe9")
    assert str(error) == ("the file is not UTF-8 text; save it as UTF-8 (in Excel: CSV UTF-8): "
                          f"line 3: byte 0xE9 at byte offset {offset} is not UTF-8")
    assert _lines(error) == [(3, None, None)]


def test_the_offset_counts_the_byte_order_mark() -> None:
    error = _refused(b"\xef\xbb\xbfprediction_id,label\np\xff,x\n")
    assert "byte 0xFF at byte offset 24" in str(error)


def test_utf16_is_named() -> None:
    data = "prediction_id,label\np1,stays\n".encode("utf-16")
    assert str(_refused(data)).startswith("the file is UTF-16 text, not UTF-8")


def test_a_file_over_the_size_limit_is_refused_before_reading() -> None:
    data = b"prediction_id,label\n" + b"".join(b"p%d,x\n" % i for i in range(10))
    assert len(parse_label_csv(data, max_bytes=len(data))) == 10
    error = _refused(data, max_bytes=len(data) - 1)
    assert str(error) == (f"the file is larger than {len(data) - 1} bytes (the limit, "
                          "OPSDASH_LABEL_IMPORT_MAX_BYTES); split it, or import it with the "
                          "command line's import-labels, which takes larger files")


def test_a_file_over_the_row_limit_is_refused_with_its_count() -> None:
    data = b"prediction_id,label\n" + b"".join(b"p%d,x\n" % i for i in range(5))
    assert len(parse_label_csv(data, max_rows=5)) == 5
    assert str(_refused(data, max_rows=4)) == (
        "the file has 5 rows; at most 4 are imported at once "
        "(OPSDASH_LABEL_IMPORT_MAX_ROWS); split it, or import it with the command line's "
        "import-labels, which takes larger files")


def test_every_bad_row_is_reported_with_its_line() -> None:
    data = (b"prediction_id,label,labeler\n"
            b"p1,stays,\n"          # 2 good
            b",churns,\n"           # 3 empty id
            b"p3,  ,\n"             # 4 empty label
            b"p1,churns,\n"         # 5 repeats line 2
            b"p5,stays\n"           # 6 too few cells
            b"p6,stays,ann,x\n"     # 7 too many cells
            b'p7,"a\nb",\n'         # 8-9 a line break inside a label
            b"p10,stays," + b"x" * 101 + b"\n")  # 10 labeler too long
    error = _refused(data)
    assert _lines(error) == [
        (3, None, "prediction_id"),
        (4, "p3", "label"),
        (5, "p1", "prediction_id"),
        (6, "p5", None),
        (7, "p6", None),
        (8, "p7", "label"),
        (10, "p10", "labeler"),
    ]
    messages = {e.line: e.message for e in error.errors}
    assert messages[5] == "prediction 'p1' is also on line 2"
    assert messages[6] == "has 2 cells; the header has 3"
    assert messages[3] == "the prediction_id is empty"
    assert error.summary == "nothing stored: 7 of 8 rows have problems"


def test_duplicates_name_both_lines_each_time() -> None:
    error = _refused(b"prediction_id,label\np1,a\np2,b\np1,a\np1,c\n")
    assert [str(e) for e in error.errors] == ["line 4: prediction 'p1' is also on line 2",
                                              "line 5: prediction 'p1' is also on line 2"]


def test_the_message_lists_the_first_errors_and_keeps_them_all() -> None:
    bad = LISTED_IN_MESSAGE + 3
    data = b"prediction_id,label\n" + b",x\n" * bad
    error = _refused(data)
    assert len(error.errors) == bad
    assert str(error).count("the prediction_id is empty") == LISTED_IN_MESSAGE
    assert str(error).endswith("; and 3 more")


def test_broken_quoting_is_reported_at_the_line_it_starts() -> None:
    error = _refused(b'prediction_id,label\np1,stays\np2,"churns\np3,stays\n')
    assert [str(e) for e in error.errors] == [
        "line 3: not valid CSV: unexpected end of data"]


def test_check_rows_words_positions_for_other_sources() -> None:
    rows = [LabelRow(0, "p1", "a"), LabelRow(1, "p1", "b"), LabelRow(2, "p2", "x", "")]
    assert [str(e) for e in check_rows(rows, where="item")] == [
        "line 1: prediction 'p1' is also on item 0",
        "line 2: the labeler '' must have 1 to 100 characters, none a control character",
    ]


def test_a_row_error_reads_as_its_line() -> None:
    assert str(RowError(7, "p", "no prediction 'p'", "prediction_id")) == \
        "line 7: no prediction 'p'"


@given(st.text())
def test_unescape_undoes_safe_cell(value: str) -> None:
    assert unescape_cell(safe_cell(value)) == value


@pytest.mark.parametrize("start", FORMULA_START)
def test_safe_cell_guards_every_formula_start(start: str) -> None:
    assert safe_cell(start + "1+1") == "'" + start + "1+1"
    assert unescape_cell("'" + start + "1") == start + "1"
    assert unescape_cell("'plain") == "'plain"
