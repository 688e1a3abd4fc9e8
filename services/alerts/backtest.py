"""Replay a quality rule over stored history: when it would have fired and resolved.

The labelled predictions are read once, as a confusion matrix per UTC hour; the rule's
window then slides over them in memory, one step at a time (the rule's own step or an
hour, whichever is coarser), and each step goes through the same state machine and the
same quality figures as the live evaluation. Windows are therefore whole hours: a step
at ``t`` sees the hours starting in ``[t - window, t)``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from db.repositories import alert_sources, registry
from db.session import session_scope
from services.alerts.observe import F1_BOOTSTRAP, metric_observation
from services.alerts.rules import QualityRule
from services.alerts.state import Observation, RuleState, Status, step
from services.quality.metrics import matrix_from_counts, report_from_matrix

__all__ = ["Backtest", "Episode", "backtest"]

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Episode:
    """One firing of the rule: when it fired and when it resolved (``None``: still firing
    at the end of the replay)."""

    fired_at: datetime
    resolved_at: datetime | None
    #: The metric's estimate at the step it fired.
    value: float | None


@dataclass(frozen=True)
class Backtest:
    """What the rule would have done on ``[start, end)``.

    Attributes:
        steps: the evaluation times, with what the rule saw and its status after each.
        episodes: each firing, oldest first.
    """

    start: datetime
    end: datetime
    step_seconds: int
    steps: list[tuple[datetime, Observation, Status]] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)

    @property
    def fired(self) -> int:
        """How many times the rule would have fired."""
        return len(self.episodes)

    @property
    def resolved(self) -> int:
        """How many of those firings would have resolved within the replay."""
        return sum(1 for e in self.episodes if e.resolved_at is not None)


def backtest(*, engine: Engine, rule: QualityRule, start: datetime, end: datetime,
             step_seconds: int = 3600) -> Backtest:
    """Replay ``rule`` at every step from ``start`` (rounded up to the hour) until ``end``.

    Raises:
        RegistryError: the rule's model is not registered.
        ValueError: ``end`` is not after ``start``.
    """
    if end <= start:
        raise ValueError("the backtest's end must be after its start")
    every = timedelta(seconds=max(step_seconds, 3600))
    window = timedelta(seconds=rule.window_seconds)
    first = _ceil_hour(start)
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        labels = list(model.class_labels)
        pairs = alert_sources.hourly_label_pairs(
            session=session, model_id=model.id, since=_floor_hour(first - window), until=end)
    hourly = _matrices(pairs, labels)
    result = Backtest(start=first, end=end, step_seconds=int(every.total_seconds()))
    state = RuleState()
    at = first
    while at < end:
        obs = _observe(rule, labels, hourly, at - window, at)
        move = step(rule, state, obs, at)
        _record(result, move.event, at, obs)
        state = move.state
        result.steps.append((at, obs, state.status))
        at += every
    return result


def _matrices(pairs: list[alert_sources.HourlyPair], labels: list[str]
              ) -> dict[datetime, np.ndarray]:
    """A confusion matrix per hour."""
    grouped: dict[datetime, list[tuple[str, str, int]]] = defaultdict(list)
    for pair in pairs:
        grouped[pair.hour].append((pair.label, pair.predicted_class, pair.count))
    return {hour: matrix_from_counts(rows, labels) for hour, rows in grouped.items()}


def _observe(rule: QualityRule, labels: list[str], hourly: dict[datetime, np.ndarray],
             since: datetime, until: datetime) -> Observation:
    """The rule's observation over the whole hours in ``[since, until)``."""
    total = np.zeros((len(labels), len(labels)), dtype=np.int64)
    hour = _ceil_hour(since)
    while hour < until:
        matrix = hourly.get(hour)
        if matrix is not None:
            total += matrix
        hour += _HOUR
    report = report_from_matrix(total, labels,
                                bootstrap=F1_BOOTSTRAP if rule.metric == "macro_f1" else 0)
    return metric_observation(report, rule.metric)


def _record(result: Backtest, event: str | None, at: datetime, obs: Observation) -> None:
    if event == "firing":
        result.episodes.append(Episode(fired_at=at, resolved_at=None, value=obs.value))
    elif event == "resolved" and result.episodes:
        last = result.episodes[-1]
        result.episodes[-1] = Episode(fired_at=last.fired_at, resolved_at=at, value=last.value)


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + _HOUR

