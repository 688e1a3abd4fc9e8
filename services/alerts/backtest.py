"""Replay a rule over stored history: when it would have fired and resolved.

:func:`backtest` dispatches on the rule's kind; every kind's figures go, step by step,
through the same state machine as the live evaluation. Quality rules: the labelled
predictions are read once, counted per UTC hour of prediction, UTC hour the label was
given, version and cell of the confusion matrix; the rule's window then slides over them
in memory, one step at a time (the rule's own step or an hour, whichever is coarser),
counting the version in production at each step (scope ``production``) or every version,
and only the labels given before the step: what the live evaluation would have seen then,
labels arriving late included. Windows are whole hours: a step at ``t`` sees the hours
starting in ``[t - window, t)``. The other kinds are in :mod:`services.alerts.backtest_kinds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
from services.quality.metrics import QualityError, report_from_matrix

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
    every = HOUR * max(1, math.ceil(step_seconds / 3600))
    window = timedelta(seconds=rule.window_seconds)
    first = ceil_hour(start)
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        labels = list(model.class_labels)
        pairs = alert_sources.arrived_label_pairs(
            session=session, model_id=model.id, since=floor_hour(first - window), until=end)
        history = production_history(session=session, model_id=model.id)
    cells = _Cells.of(pairs, labels)
    result = Backtest(start=first, end=end, step_seconds=int(every.total_seconds()))
    steps = []
    at = first
    while at < end:
        version = history.version_at(at) if rule.scope == "production" else None
        matrix = cells.matrix(since=ceil_hour(at - window), until=at, version=version)
        report = report_from_matrix(
            matrix, labels, bootstrap=F1_BOOTSTRAP if rule.metric == "macro_f1" else 0)
        steps.append((at, metric_observation(report, rule.metric)))
        at += every
    return replay(rule, steps, result)


@dataclass(frozen=True)
class _Cells:
    """Labelled predictions as columns: prediction hour, arrival hour, version, the cell of
    the confusion matrix, and the count."""

    made: np.ndarray
    arrived: np.ndarray
    version: np.ndarray
    cell: np.ndarray
    count: np.ndarray
    classes: int

    @classmethod
    def of(cls, pairs: list[alert_sources.ArrivedPair], labels: list[str]) -> _Cells:
        index = {label: i for i, label in enumerate(labels)}
        known = [p for p in pairs if p.label in index and p.predicted_class in index]
        if len(known) != len(pairs):
            bad = next(p for p in pairs if p not in known)
            raise QualityError(f"label or prediction {bad.label!r}/{bad.predicted_class!r} "
                               "is not one of the model's classes")
        n = len(labels)
        return cls(made=np.array([p.hour.timestamp() for p in known], dtype=np.float64),
                   arrived=np.array([p.arrived.timestamp() for p in known], dtype=np.float64),
                   version=np.array([p.version_id for p in known], dtype=np.int64),
                   cell=np.array([index[p.label] * n + index[p.predicted_class]
                                  for p in known], dtype=np.int64),
                   count=np.array([p.count for p in known], dtype=np.int64), classes=n)

    def matrix(self, *, since: datetime, until: datetime, version: int | None) -> np.ndarray:
        """The confusion matrix of the predictions made in the whole hours of ``[since,
        until)`` (of one version, or all) whose labels had arrived before ``until``."""
        keep = ((self.made >= since.timestamp()) & (self.made < until.timestamp())
                & (self.arrived < until.timestamp()))
        if version is not None:
            keep &= self.version == version
        flat = np.bincount(self.cell[keep], weights=self.count[keep],
                           minlength=self.classes * self.classes)
        return flat.astype(np.int64).reshape(self.classes, self.classes)


