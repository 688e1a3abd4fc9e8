"""Since when a model's inputs have been drifting: the Drift page's "drifting since",
for callers without the page (the retrain dialog's default window, the worker).

The Drift page tests every day of the logged history against the production version's
training sample and calls the start of the latest run of drifted days, lasting to the
last tested day, the episode (:func:`services.drift.analysis.analyse`). :func:`drifting_since`
computes the same from the store, with the page's default reference and the same tests,
and returns the episode's first local midnight. A page that already holds its
``DriftAnalysis`` passes ``episode_start`` through :func:`local_midnight` instead of
reading the history again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from db.repositories import drift as drift_repo
from db.session import session_scope
from services.drift.analysis import analyse, day_bounds
from services.drift.compare import ColumnConfig
from services.drift.frame import Frame, decode_rows, feature_kinds
from services.drift.scoring import training_reference

__all__ = ["CURRENT_DAYS", "drifting_since", "local_midnight"]

#: The current window the verdict is computed for (the page's default "Last 7 days"); the
#: episode itself depends only on the day-by-day verdicts.
CURRENT_DAYS = 7


def local_midnight(day: date, tz: str) -> datetime:
    """The start of ``day`` in time zone ``tz``, as a UTC datetime."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def drifting_since(
    *,
    engine: Engine,
    model: str,
    now: datetime,
    tz: str,
    drift_share: float,
    columns: Mapping[str, ColumnConfig] | None = None,
) -> datetime | None:
    """The first local midnight of the model's current drift episode, or ``None``: no
    episode, no production version with a training sample, or nothing logged.

    ``tz``, ``drift_share`` and ``columns`` are the page's (``OPSDASH_TIMEZONE``,
    ``OPSDASH_DRIFT_SHARE`` and the drift configuration file's columns for the model).
    """
    with session_scope(engine) as session:
        subject = drift_repo.drift_subject(session, model)
    if (subject is None or subject.first_at is None or subject.version_id is None
            or not subject.artifact_path or not subject.artifact_sha256):
        return None
    kinds = feature_kinds(subject.feature_schema)
    reference = training_reference(engine, subject.version_id, Path(subject.artifact_path),
                                   subject.artifact_sha256, kinds)
    if reference.frame.rows == 0:
        return None
    bounds = day_bounds(subject.first_at, now, tz)
    with session_scope(engine) as session:
        frames = [decode_rows(drift_repo.raw_rows(session, subject.model_id, start, end), kinds)
                  for start, end in pairwise(bounds)]
    current = Frame.concat(frames[-CURRENT_DAYS:], list(kinds))
    if current.rows == 0:
        return None
    zone = ZoneInfo(tz)
    days = [b.astimezone(zone).date() for b in bounds[:-1]]
    analysis = analyse(kinds=kinds, reference=reference.frame, current=current,
                       history=list(zip(days, frames, strict=True)), weights=reference.weights,
                       config=dict(columns or {}), drift_share=drift_share)
    return None if analysis.episode_start is None else local_midnight(analysis.episode_start, tz)
