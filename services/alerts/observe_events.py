"""Figures of the rules about things that happened: a failed retrain job, a bake-watch
rollback. Each is a count over the rule's window, computed by a pure function from rows
read once, so the live evaluation and the backtest count alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from db.repositories import alert_sources, promotions, registry
from db.session import session_scope
from services.alerts.rules import BakeRollbackRule, RetrainFailedRule
from services.alerts.state import Observation

__all__ = ["Rollback", "failed_jobs_at", "read_jobs", "read_rollbacks", "rollbacks_at"]

#: A rollback by the bake watch: when, and the version numbers it moved from and to.
Rollback = tuple[datetime, int | None, int]


def read_jobs(engine: Engine, rule: RetrainFailedRule, start: datetime, end: datetime
              ) -> list[alert_sources.FinishedJob]:
    """The model's finished retrain jobs a replay of ``[start, end]`` needs."""
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        return alert_sources.finished_jobs(
            session=session, model_id=model.id,
            since=start - timedelta(seconds=rule.window_seconds), until=end)


def failed_jobs_at(rule: RetrainFailedRule, jobs: Sequence[alert_sources.FinishedJob],
                   at: datetime) -> Observation:
    """Failed jobs that finished in the window ending at ``at`` after the last success."""
    since = at - timedelta(seconds=rule.window_seconds)
    recent = [j for j in jobs if since < j.finished_at <= at]
    successes = [j.finished_at for j in recent if j.status == "succeeded"]
    last_success = max(successes) if successes else None
    failed = [j for j in recent if j.status == "failed"
              and (last_success is None or j.finished_at > last_success)]
    if not failed:
        return Observation(0.0)
    newest = failed[-1]
    error = newest.error.strip().splitlines()[0] if newest.error.strip() else "no error given"
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return Observation(float(len(failed)),
                       detail=f"retrain job {newest.id} failed: {error}{more}")


def read_rollbacks(engine: Engine, model: str) -> list[Rollback]:
    """The model's rollbacks made by the bake watch (a ledger row with a system trigger),
    oldest first."""
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        rows = promotions.ledger_rows(session=session, model_id=found.id)
    return sorted((r.row.created_at, r.from_version, r.to_version) for r in rows
                  if r.row.kind == "rollback" and r.row.trigger is not None)


def rollbacks_at(rule: BakeRollbackRule, rollbacks: Sequence[Rollback],
                 at: datetime) -> Observation:
    """Rollbacks by the bake watch in the window ending at ``at``."""
    since = at - timedelta(seconds=rule.window_seconds)
    recent = [r for r in rollbacks if since < r[0] <= at]
    if not recent:
        return Observation(0.0)
    _, old, new = recent[-1]
    moved = f"v{old} → v{new}" if old is not None else f"to v{new}"
    return Observation(float(len(recent)), detail=moved)
