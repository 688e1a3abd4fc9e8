"""The retrain section's pure parts: the window the dialog's dates mean, and the history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from dashboard.retrain_view import history_frame, window_bounds
from services.retrain.jobs import Job

PARIS = ZoneInfo("Europe/Paris")


def test_the_dates_are_whole_days_in_the_display_zone_across_a_clock_change() -> None:
    # Paris moves its clocks forward on 2026-03-29: that day has 23 hours.
    now = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)
    start, end = window_bounds(date(2026, 3, 28), date(2026, 3, 29), PARIS, now)
    assert start == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 47 * 3600


def test_a_window_ending_today_ends_now() -> None:
    now = datetime(2026, 4, 2, 12, 30, tzinfo=UTC)
    start, end = window_bounds(date(2026, 4, 1), date(2026, 4, 2), PARIS, now)
    assert start == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert end == now


def _job(job_id: int, **changes: object) -> Job:
    at = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
    fields: dict[str, object] = {
        "id": job_id, "model": "churn", "status": "succeeded", "stage": "done",
        "percent": 100.0, "message": "", "preset": "same", "window_start": at,
        "window_end": at, "note": "", "backend": "local", "requested_by": "olive",
        "created_at": at, "started_at": at.replace(minute=1),
        "finished_at": at.replace(minute=1, second=42), "heartbeat_at": None,
        "cancel_requested": False, "result_version": 3, "error": "", "log": ""}
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


def test_the_history_shows_outcome_duration_version_and_the_error_s_first_line() -> None:
    frame = history_frame([
        _job(2),
        _job(1, status="failed", stage="training", result_version=None,
             error="the training process exited with status 5\nTraceback ..."),
        _job(0, status="cancelled", started_at=None, finished_at=None, result_version=None),
    ], "Europe/Paris")
    assert list(frame["Job"]) == [2, 1, 0]
    assert list(frame["Status"]) == ["succeeded", "failed", "cancelled"]
    assert list(frame["Duration"]) == ["42 s", "42 s", "—"]
    assert list(frame["Version"]) == ["v3", "", ""]
    assert frame["Error"][1] == "the training process exited with status 5"
    assert frame["Started"][0] == "2026-04-02 11:01 Europe/Paris"
    assert frame["Started"][2] == "2026-04-02 11:00 Europe/Paris"  # queued at
