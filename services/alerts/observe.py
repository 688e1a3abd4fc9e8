"""Read what a rule watches at a moment ``at``: :func:`observe`, for every kind.

Quality rules compute their metric over the labelled predictions made in the rule's
window ending at ``at`` (the quality report's counts and intervals: Wilson for accuracy
and recall, bootstrap for macro F1), by the version in production at ``at`` (scope
``production``, from the promotion ledger) or by every version (scope ``all``); traffic
rules measure the seconds since the newest prediction before ``at``; backlog rules count
the predictions made before ``at`` that await a label; retrain and rollback rules count
failed jobs and bake-watch rollbacks in their window. Drift rules
(:mod:`services.alerts.observe_drift`) and serving rules
(:mod:`services.alerts.observe_serving`) need :class:`~services.alerts.sources.Sources`.
A source that cannot be read gives an *unavailable* observation, so the rule goes
*unknown* rather than resolved.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from db.repositories import alert_sources, labeling, registry
from db.session import session_scope
from services.alerts.observe_drift import drift_observation
from services.alerts.observe_events import (
    failed_jobs_at,
    read_jobs,
    read_rollbacks,
    rollbacks_at,
)
from services.alerts.observe_serving import serving_observation
from services.alerts.production import production_history
from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    QualityRule,
    RetrainFailedRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)
from services.alerts.sources import Sources
from services.alerts.state import Observation
from services.drift.errors import DriftError
from services.quality.metrics import QualityError, QualityReport
from services.quality.report import quality_report

__all__ = ["metric_observation", "observe", "production_version"]

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


def observe(*, engine: Engine, rule: Rule, at: datetime,
            sources: Sources | None = None) -> Observation:
    """What ``rule`` sees at ``at``; unavailable (with the reason) when its source fails,
    the model is not registered, or the rule needs ``sources`` and none were given.

    ``at`` is meant to be now (the evaluator's clock): a quality rule counts the labels in
    the store now, and a serving rule asks Prometheus for now. To see what a rule saw in
    the past, labels arriving late included, replay it (:func:`services.alerts.backtest.backtest`).
    """
    try:
        return _read(engine, rule, at, sources)
    except registry.RegistryError as exc:
        return Observation(None, unavailable=str(exc))
    except (QualityError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Observation(None, unavailable=f"the store could not be read: {reason}")
    except (DriftError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Observation(None, unavailable=f"the drift analysis failed: {reason}")


def _read(engine: Engine, rule: Rule, at: datetime, sources: Sources | None) -> Observation:
    if isinstance(rule, QualityRule):
        return _quality(engine, rule, at)
    if isinstance(rule, TrafficStoppedRule):
        return _traffic(engine, rule, at)
    if isinstance(rule, LabelBacklogRule):
        return _backlog(engine, rule, at)
    if isinstance(rule, DriftShareRule | PredictionDriftRule):
        return drift_observation(engine=engine, rule=rule, at=at, sources=sources)
    if isinstance(rule, ServingRule):
        return serving_observation(rule=rule, sources=sources)
    if isinstance(rule, RetrainFailedRule):
        return failed_jobs_at(rule, read_jobs(engine, rule, at, at), at)
    assert isinstance(rule, BakeRollbackRule)
    return rollbacks_at(rule, read_rollbacks(engine, rule.model), at)


def production_version(engine: Engine, model: str, at: datetime) -> int | None:
    """The number of the version in production at ``at`` (see
    :meth:`~services.alerts.production.ProductionHistory.version_at`)."""
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        history = production_history(session=session, model_id=found.id)
    return history.number_at(at)


def _quality(engine: Engine, rule: QualityRule, at: datetime) -> Observation:
    version = None
    if rule.scope == "production":
        version = production_version(engine, rule.model, at)
        if version is None:
            return Observation(None, unavailable=f"{rule.model} had no production version")
    report = quality_report(
        engine=engine, model=rule.model, version=version,
        since=at - timedelta(seconds=rule.window_seconds), until=at,
        bootstrap=F1_BOOTSTRAP if rule.metric == "macro_f1" else 0)
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
