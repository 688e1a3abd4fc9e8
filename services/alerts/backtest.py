"""Replay a rule over stored history: when it would have fired and resolved.

:func:`backtest` dispatches on the rule's kind; every kind's figures go, step by step,
through the same state machine as the live evaluation. Quality rules: the labelled
predictions are read once, as a confusion matrix per UTC hour and version; the rule's
window then slides over them in memory, one step at a time (the rule's own step or an
hour, whichever is coarser), counting the version in production at each step (scope
``production``) or every version. Windows are therefore whole hours: a step at ``t`` sees
the hours starting in ``[t - window, t)``. The other kinds are in
:mod:`services.alerts.backtest_kinds`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine

from db.repositories import alert_sources, registry
from db.session import session_scope
from services.alerts.backtest_core import HOUR, Backtest, Episode, ceil_hour, floor_hour, replay
from services.alerts.backtest_kinds import backtest_other
from services.alerts.observe import F1_BOOTSTRAP, metric_observation
from services.alerts.production import production_history
from services.alerts.rules import QualityRule, Rule
from services.alerts.sources import Sources
from services.alerts.state import Observation
from services.quality.metrics import matrix_from_counts, report_from_matrix

__all__ = ["Backtest", "Episode", "backtest"]



def backtest(*, engine: Engine, rule: Rule, start: datetime, end: datetime,
             step_seconds: int = 3600, sources: Sources | None = None) -> Backtest:
    """Replay ``rule`` at every step from ``start`` (rounded up to the hour) until ``end``:
    every hour or at ``step_seconds``, whichever is coarser (drift rules: see
    :mod:`services.alerts.backtest_kinds`).

    Raises:
        RegistryError: the rule's model is not registered.
        ValueError: ``end`` is not after ``start``.
    """
    if end <= start:
        raise ValueError("the backtest's end must be after its start")
    if not isinstance(rule, QualityRule):
        return backtest_other(engine=engine, rule=rule, start=start, end=end,
                              step_seconds=step_seconds, sources=sources)
    every = timedelta(seconds=max(step_seconds, 3600))
    window = timedelta(seconds=rule.window_seconds)
    first = ceil_hour(start)
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        labels = list(model.class_labels)
        pairs = alert_sources.hourly_label_pairs(
            session=session, model_id=model.id, since=floor_hour(first - window), until=end)
        history = production_history(session=session, model_id=model.id)
    hourly = _matrices(pairs, labels)
    result = Backtest(start=first, end=end, step_seconds=int(every.total_seconds()))
    steps = []
    at = first
    while at < end:
        version = history.version_at(at) if rule.scope == "production" else None
        steps.append((at, _observe(rule, labels, hourly, at - window, at, version)))
        at += every
    return replay(rule, steps, result)


#: Hour → version row id → confusion matrix.
_Hourly = dict[datetime, dict[int, np.ndarray]]


def _matrices(pairs: list[alert_sources.HourlyPair], labels: list[str]) -> _Hourly:
    """A confusion matrix per hour and version."""
    grouped: dict[tuple[datetime, int], list[tuple[str, str, int]]] = defaultdict(list)
    for pair in pairs:
        grouped[pair.hour, pair.version_id].append(
            (pair.label, pair.predicted_class, pair.count))
    hourly: _Hourly = defaultdict(dict)
    for (hour, version), rows in grouped.items():
        hourly[hour][version] = matrix_from_counts(rows, labels)
    return hourly


def _observe(rule: QualityRule, labels: list[str], hourly: _Hourly, since: datetime,
             until: datetime, version: int | None) -> Observation:
    """The rule's observation over the whole hours in ``[since, until)``, of one version
    (``None``: every version)."""
    total = np.zeros((len(labels), len(labels)), dtype=np.int64)
    hour = ceil_hour(since)
    while hour < until:
        for version_id, matrix in hourly.get(hour, {}).items():
            if version is None or version_id == version:
                total += matrix
        hour += HOUR
    report = report_from_matrix(total, labels,
                                bootstrap=F1_BOOTSTRAP if rule.metric == "macro_f1" else 0)
    return metric_observation(report, rule.metric)


