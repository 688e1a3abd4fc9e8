"""A label CSV header is checked in linear time, and a header of too many columns is refused
by its count before any column is looked at."""

from __future__ import annotations

import pytest

from services.labels.csv_file import LabelImportError, parse_label_csv
from services.predictions.limits import DEFAULT_LIMITS


def test_a_header_of_20000_columns_is_refused_by_its_count() -> None:
    header = ",".join(["prediction_id", "label", *(f"c{i}" for i in range(19_998))])
    with pytest.raises(LabelImportError) as refused:
        parse_label_csv(f"{header}\np-1,yes\n".encode())
    assert str(refused.value) == (
        f"the header has 20,000 columns; at most {DEFAULT_LIMITS.max_columns:,}")


def test_repeated_columns_of_a_wide_header_are_still_named() -> None:
    header = ",".join(["prediction_id", "label", *(["label"] * 900), "prediction_id"])
    with pytest.raises(LabelImportError) as refused:
        parse_label_csv(f"{header}\np-1,yes\n".encode())
    assert [e.message for e in refused.value.errors] == [
        "column 'prediction_id' appears 2 times", "column 'label' appears 901 times"]
