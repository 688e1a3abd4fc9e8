"""Prediction ids: the UUID version 7 layout, sorted by time, unique, reproducible on demand."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from services.predictions.ids import prediction_id, prediction_ids

T0 = datetime(2026, 11, 20, 8, 30, 15, 123_000, tzinfo=UTC)


def test_an_id_is_a_version_7_uuid_carrying_its_millisecond() -> None:
    text = prediction_id(T0)
    parsed = uuid.UUID(hex=text)
    assert parsed.hex == text
    assert len(text) == 32
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert int(text[:12], 16) == int(T0.timestamp() * 1000)


def test_later_predictions_sort_later_and_ids_do_not_repeat() -> None:
    times = [T0 + timedelta(milliseconds=7 * i) for i in range(2000)]
    ids = prediction_ids(times)
    assert ids == sorted(ids)
    same_ms = prediction_ids([T0] * 5000)
    assert len(set(same_ms)) == 5000


def test_a_seeded_generator_makes_the_same_ids() -> None:
    times = [T0 + timedelta(seconds=i) for i in range(100)]
    first = prediction_ids(times, np.random.default_rng(3))
    assert first == prediction_ids(times, np.random.default_rng(3))
    assert first != prediction_ids(times, np.random.default_rng(4))


def test_naive_or_out_of_range_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        prediction_id(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="between 1970"):
        prediction_id(datetime(1960, 1, 1, tzinfo=UTC))
