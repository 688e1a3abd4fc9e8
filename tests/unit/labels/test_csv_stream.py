"""A label file read from disk a line at a time gives what the same bytes read in memory
give (the page's reader): the same rows, and the same errors with the same lines."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.labels.csv_file import (
    FileLimits,
    LabelImportError,
    LabelRow,
    RowError,
    read_label_csv,
)
from services.labels.csv_stream import label_file_rows
from services.settings import Settings

BIG = FileLimits(max_bytes=1 << 30, max_rows=1_000_000)
BLOCK = 1 << 20  # the stream's read size when it looks for a bad byte


def _in_memory(data: bytes) -> tuple[list[LabelRow], list[RowError]] | str:
    try:
        return read_label_csv(data, max_bytes=BIG.max_bytes, max_rows=BIG.max_rows)
    except LabelImportError as exc:
        return f"{exc} {exc.errors}"


def _streamed(path: Path, data: bytes,
              limits: FileLimits = BIG) -> tuple[list[LabelRow], list[RowError]] | str:
    path.write_bytes(data)
    errors: list[RowError] = []
    try:
        return list(label_file_rows(path, limits=limits, errors=errors)), errors
    except LabelImportError as exc:
        return f"{exc} {exc.errors}"


FRAGMENTS = ["prediction_id", "label", "labeler", ",", "\n", "\r\n", "\r", '"', " ", "p1",
             "p2", "stays", "zoë", "\ufeff", "'=1", "a,b", "x"]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.sampled_from(["prediction_id,label", "label,prediction_id,labeler",
                               "prediction_id,label,timestamp", "prediction_id,Label", ""]),
       body=st.lists(st.sampled_from(FRAGMENTS), max_size=40),
       tail=st.sampled_from([b"", b"\xff", b"\xc3", b"\xe2\x82", b"\xc3\xa9"]),
       bom=st.sampled_from([b"", codecs.BOM_UTF8]))
def test_streamed_and_in_memory_reads_agree(tmp_path: Path, header: str, body: list[str],
                                            tail: bytes, bom: bytes) -> None:
    data = bom + (header + "\n" + "".join(body)).encode() + tail
    assert _streamed(tmp_path / "f.csv", data) == _in_memory(data)


def _rows(n: int, start: int = 0) -> bytes:
    return b"".join(b"p%07d,stays,zo\xc3\xab\n" % i for i in range(start, start + n))


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_a_bad_byte_past_the_first_megabyte_is_named_with_its_offset_and_line(
    tmp_path: Path, shift: int
) -> None:
    """The 'ë' of a row ends the first megabyte, straddles its end or starts the next
    (``shift``); the bad byte comes rows later."""
    head, first = b"prediction_id,label,labeler\n", b",y,z\n"
    row = len(_rows(1))  # its 'ë' starts 17 bytes in
    pad = (BLOCK - 2 + shift - len(head) - len(first) - 17) % row
    count = BLOCK // row + 2
    data = head + b"x" * pad + first + _rows(count) + b"p,\xff,z\n" + _rows(3)
    assert data[BLOCK - 2 + shift:BLOCK + shift] == "ë".encode()
    streamed = _streamed(tmp_path / "f.csv", data)
    assert streamed == _in_memory(data)
    bad = data.index(b"\xff")
    assert f"byte 0xFF at byte offset {bad} is not UTF-8" in str(streamed)
    assert f"line={count + 3}" in str(streamed)


def test_a_truncated_character_at_the_end_is_named(tmp_path: Path) -> None:
    data = b"prediction_id,label\np1,caf\xc3"
    assert _streamed(tmp_path / "f.csv", data) == _in_memory(data)
    assert "byte 0xC3 at byte offset 26" in str(_in_memory(data))


def test_the_command_lines_limits_are_named(tmp_path: Path) -> None:
    limits = FileLimits.command_line(Settings())
    assert (limits.max_bytes, limits.max_rows) == (200 * 1024 * 1024, 2_000_000)
    data = b"prediction_id,label\n" + _rows(10)
    small = FileLimits.command_line(Settings(label_import_cli_max_bytes=len(data) - 1,
                                             label_import_cli_max_rows=10))
    assert _streamed(tmp_path / "f.csv", data, small) == (
        f"the file is larger than {len(data) - 1} bytes (the limit, "
        "OPSDASH_LABEL_IMPORT_CLI_MAX_BYTES); split it []")
    few = FileLimits.command_line(Settings(label_import_cli_max_rows=9))
    assert _streamed(tmp_path / "f.csv", data, few) == (
        "the file has 10 rows; at most 9 are imported at once "
        "(OPSDASH_LABEL_IMPORT_CLI_MAX_ROWS); split it []")


def test_utf16_is_named(tmp_path: Path) -> None:
    data = "prediction_id,label\np1,stays\n".encode("utf-16")
    assert str(_streamed(tmp_path / "f.csv", data)).startswith(
        "the file is UTF-16 text, not UTF-8")
