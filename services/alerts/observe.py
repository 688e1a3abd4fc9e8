"""Read what a rule watches from the store at a moment ``at``.

Quality rules compute their metric over the labelled predictions made in the rule's
window ending at ``at`` (the quality report's counts and intervals: Wilson for accuracy
and recall, bootstrap for macro F1); traffic rules measure the seconds since the newest
prediction before ``at``; backlog rules count the predictions made before ``at`` that
await a label. A store that cannot be read gives an *unavailable* observation, so the
rule goes *unknown* rather than resolved.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from db.repositories import alert_sources, labeling, registry
from db.session import session_scope
from services.alerts.rules import LabelBacklogRule, QualityRule, Rule, TrafficStoppedRule
from services.alerts.state import Observation
from services.quality.metrics import QualityError, QualityReport
from services.quality.report import quality_report

__all__ = ["metric_observation", "observe"]

#: Bootstrap draws behind a macro F1 interval (the other metrics use Wilson intervals).
F1_BOOTSTRAP = 400


def metric_observation(report: QualityReport, metric: str) -> Observation:
    """The rule metric's estimate, interval and sample size in a quality report."""
    if metric == "accuracy":
        return Observation(report.accuracy, report.accuracy_interval, report.n_labelled)
    if metric == "macro_f1":
        return Observation(report.macro_f1, report.macro_f1_interval, report.n_labelled)
    wanted = metric.removeprefix("recall:")
    for per_class in report.per_class:
        if per_class.label == wanted:
            return Observation(per_class.recall, per_class.recall_interval, per_class.support)
    return Observation(None, unavailable=f"the model has no class {wanted!r}")


def observe(*, engine: Engine, rule: Rule, at: datetime) -> Observation:
    """What ``rule`` sees at ``at``; unavailable (with the reason) when the store fails or
    the model is not registered."""
    try:
        if isinstance(rule, QualityRule):
            return _quality(engine, rule, at)
        if isinstance(rule, TrafficStoppedRule):
            return _traffic(engine, rule, at)
        if isinstance(rule, LabelBacklogRule):
            return _backlog(engine, rule, at)
        return Observation(None, unavailable=f"{rule.kind} rules cannot be read yet")
    except registry.RegistryError as exc:
        return Observation(None, unavailable=str(exc))
    except (QualityError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Observation(None, unavailable=f"the store could not be read: {reason}")


def _quality(engine: Engine, rule: QualityRule, at: datetime) -> Observation:
    report = quality_report(
        engine=engine, model=rule.model, since=at - timedelta(seconds=rule.window_seconds),
        until=at, bootstrap=F1_BOOTSTRAP if rule.metric == "macro_f1" else 0)
    return metric_observation(report, rule.metric)


def _traffic(engine: Engine, rule: TrafficStoppedRule, at: datetime) -> Observation:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        newest = alert_sources.newest_prediction(session=session, model_id=model.id,
                                                 before=at)
    if newest is None:
        return Observation(None, unavailable="the model has made no prediction yet")
    return Observation((at - newest).total_seconds())


def _backlog(engine: Engine, rule: LabelBacklogRule, at: datetime) -> Observation:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=rule.model)
        waiting = labeling.count_awaiting(
            session=session, scope=labeling.QueueScope(model_id=model.id, until=at))
    return Observation(float(waiting))
