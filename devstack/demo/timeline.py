"""When demo requests arrive, and how drifted the world is at a given moment.

Times are handled as float seconds since the Unix epoch (UTC) so whole histories stay
vectorised; :func:`to_datetimes` turns them into timezone-aware datetimes at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from devstack.demo.generator import FloatArray

__all__ = ["DriftSchedule", "arrival_times", "drift_schedule", "rate_profile", "to_datetimes"]

#: Width of the bins the daily rate pattern is drawn in.
BIN_SECONDS = 300
#: Relative traffic on Saturday and Sunday.
WEEKEND_FACTOR = 0.55


@dataclass(frozen=True)
class DriftSchedule:
    """Drift intensity over time: 0 until ``ramp_start``, rising linearly to 1 at ``ramp_end``."""

    ramp_start: datetime
    ramp_end: datetime

    def intensity(self, at: datetime) -> float:
        """Intensity at one moment."""
        return float(self.intensities(np.array([at.timestamp()]))[0])

    def intensities(self, seconds: FloatArray) -> FloatArray:
        """Intensity at each epoch second of ``seconds``."""
        begin = self.ramp_start.timestamp()
        width = max(self.ramp_end.timestamp() - begin, 1.0)
        return np.clip((np.asarray(seconds, dtype=np.float64) - begin) / width, 0.0, 1.0)


def drift_schedule(*, start: datetime, end: datetime) -> DriftSchedule:
    """The demo's drift episode: it begins halfway through the history and is complete
    after another 3/14 of it (day 7 to day 10 of a fourteen-day history)."""
    span = end - start
    ramp_start = start + span / 2
    return DriftSchedule(ramp_start=ramp_start, ramp_end=ramp_start + span * 3 / 14)


def rate_profile(bin_starts: FloatArray) -> FloatArray:
    """Relative request rate at each bin start: office-hours peak, quiet nights and weekends."""
    hours = (bin_starts % 86_400) / 3600.0
    weekday = ((bin_starts // 86_400).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    daytime = np.exp(-(((hours - 13.5) / 4.0) ** 2))
    evening = 0.35 * np.exp(-(((hours - 20.0) / 2.0) ** 2))
    rate = 0.12 + daytime + evening
    return np.asarray(np.where(weekday >= 5, rate * WEEKEND_FACTOR, rate), dtype=np.float64)


def arrival_times(
    rng: np.random.Generator, *, start: datetime, end: datetime, count: int
) -> FloatArray:
    """``count`` sorted request times in ``[start, end)`` following :func:`rate_profile`.

    The total is exact (so the size of a seeded history is known in advance); hourly
    noise keeps days from looking identical.
    """
    begin, finish = start.timestamp(), end.timestamp()
    edges = np.arange(begin, finish, BIN_SECONDS, dtype=np.float64)
    widths = np.minimum(edges + BIN_SECONDS, finish) - edges
    hourly_noise = rng.lognormal(0.0, 0.15, int(np.ceil(len(edges) / 12)) + 1)
    weights = rate_profile(edges) * widths * hourly_noise[np.arange(len(edges)) // 12]
    counts = rng.multinomial(count, weights / weights.sum())
    starts = np.repeat(edges, counts)
    times = starts + rng.random(count) * np.repeat(widths, counts)
    return np.sort(times)


def to_datetimes(seconds: FloatArray) -> list[datetime]:
    """Timezone-aware UTC datetimes (microsecond precision) for epoch seconds."""
    micros = np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)
    return [_EPOCH + timedelta(microseconds=m) for m in micros.tolist()]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
