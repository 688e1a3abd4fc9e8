"""Request arrival times and the drift schedule of the demo history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from devstack.demo.timeline import arrival_times, drift_schedule, to_datetimes

END = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # a Friday
START = END - timedelta(days=14)


def test_arrivals_are_exactly_count_sorted_and_inside_the_window() -> None:
    times = arrival_times(np.random.default_rng(1), start=START, end=END, count=30_000)
    assert len(times) == 30_000
    assert np.all(np.diff(times) >= 0)
    assert times[0] >= START.timestamp()
    assert times[-1] < END.timestamp()


def test_arrivals_follow_office_hours_and_quiet_weekends() -> None:
    times = to_datetimes(
        arrival_times(np.random.default_rng(2), start=START, end=END, count=50_000)
    )
    hours = np.array([t.hour for t in times])
    assert np.sum(hours == 13) > 4 * np.sum(hours == 3)
    per_day: dict[int, int] = {}
    for t in times:
        per_day[t.weekday()] = per_day.get(t.weekday(), 0) + 1
    assert per_day[5] + per_day[6] < 0.75 * (per_day[1] + per_day[2])


def test_arrivals_are_reproducible() -> None:
    first = arrival_times(np.random.default_rng(3), start=START, end=END, count=1000)
    again = arrival_times(np.random.default_rng(3), start=START, end=END, count=1000)
    np.testing.assert_array_equal(first, again)


def test_drift_starts_halfway_and_is_complete_three_days_later() -> None:
    schedule = drift_schedule(start=START, end=END)
    assert schedule.intensity(START) == 0.0
    assert schedule.intensity(START + timedelta(days=6, hours=23)) == 0.0
    assert schedule.intensity(START + timedelta(days=8, hours=12)) == pytest.approx(0.5)
    assert schedule.intensity(START + timedelta(days=10)) == 1.0
    assert schedule.intensity(END) == 1.0


def test_to_datetimes_gives_aware_utc_microseconds() -> None:
    (moment,) = to_datetimes(np.array([END.timestamp() + 0.123456]))
    assert moment == END + timedelta(microseconds=123456)
    assert moment.tzinfo is UTC
