"""The figures the worker exports, on both engines: the same numbers the in-app rules see."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from db.alert_models import AlertState
from db.base import utcnow
from db.session import session_scope
from services.access import SYSTEM
from services.alerts.figures import (
    DEFAULT_WINDOW_S,
    FiguresTask,
    QualityFigure,
    quality_figures,
    scope_label,
)
from services.alerts.observe import observe
from services.alerts.rules import LabelBacklogRule, QualityRule
from services.alerts.store import save_rule, set_enabled
from tests.factories import log_predictions, make_model

HOUR = timedelta(hours=1)


def _now() -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0)


def _labelled(engine: Engine, *, model_id: int, version_id: int, start: datetime, n: int,
              right: int, labelled: bool = True) -> None:
    """``n`` predictions a minute apart from ``start``, the first ``right`` of them right."""
    rows = []
    for i in range(n):
        truth = "churns" if i % 2 else "stays"
        wrong = "stays" if truth == "churns" else "churns"
        rows.append((start + timedelta(minutes=i), truth if i < right else wrong,
                     truth if labelled else None))
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def _by_key(found: list[QualityFigure]) -> dict[tuple[str, str, str], QualityFigure]:
    return {(f.version, f.metric, f.window): f for f in found}


def _rule(metric: str, window_s: int = DEFAULT_WINDOW_S) -> QualityRule:
    return QualityRule(name=f"churn {metric}", model="churn", metric=metric, floor=0.5,
                       resolve_at=0.6, window_seconds=window_s, min_labels=1)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1", "recall:churns", "recall:stays"])
def test_the_figures_are_what_a_quality_rule_observes(engine: Engine,
                                                             metric: str) -> None:
    now = _now()
    model_id, version_id = make_model(engine)
    _labelled(engine, model_id=model_id, version_id=version_id, start=now - 30 * HOUR, n=50,
              right=10)  # outside the 24 h window
    _labelled(engine, model_id=model_id, version_id=version_id, start=now - 5 * HOUR, n=120,
              right=90)
    found = _by_key(quality_figures(engine=engine, model="churn", windows=[DEFAULT_WINDOW_S],
                                    at=now))
    rule = _rule(metric)
    seen = observe(engine=engine, rule=rule, at=now)
    assert seen.value is not None
    assert seen.interval is not None
    figure = found[(scope_label(rule), metric, "1d")]
    assert (figure.estimate, figure.lower, figure.upper, figure.labels) == (
        seen.value, seen.interval[0], seen.interval[1], seen.sample_size)


def test_each_version_and_the_production_version_have_their_own_figures(
        engine: Engine) -> None:
    from db.repositories import registry

    now = _now()
    model_id, v1 = make_model(engine, at=now - 48 * HOUR)
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x/v2.pkl",
                                  artifact_sha256="1" * 64, created_by="test").id
        registry.set_production(session=session, model_id=model_id, version_id=v2,
                                actor="test", at=now - 3 * HOUR)
    _labelled(engine, model_id=model_id, version_id=v1, start=now - 10 * HOUR, n=100, right=50)
    _labelled(engine, model_id=model_id, version_id=v2, start=now - 2 * HOUR, n=60, right=57)
    found = _by_key(quality_figures(engine=engine, model="churn", windows=[DEFAULT_WINDOW_S],
                                    at=now))
    assert found[("1", "accuracy", "1d")].estimate == pytest.approx(0.50)
    assert found[("2", "accuracy", "1d")].estimate == pytest.approx(0.95)
    assert found[("production", "accuracy", "1d")] == QualityFigure(
        "churn", "production", "accuracy", "1d", *_values(found[("2", "accuracy", "1d")]))
    assert found[("all", "accuracy", "1d")].labels == 160


def _values(figure: QualityFigure) -> tuple[float, float, float, int]:
    return figure.estimate, figure.lower, figure.upper, figure.labels


def test_no_labels_no_quality_series(engine: Engine) -> None:
    now = _now()
    model_id, version_id = make_model(engine)
    _labelled(engine, model_id=model_id, version_id=version_id, start=now - HOUR, n=10,
              right=10, labelled=False)
    assert quality_figures(engine=engine, model="churn", windows=[DEFAULT_WINDOW_S],
                           at=now) == []


def test_the_task_exports_each_rule_window_the_backlog_and_the_states(engine: Engine) -> None:
    now = _now()
    model_id, version_id = make_model(engine)
    _labelled(engine, model_id=model_id, version_id=version_id,
              start=now - timedelta(minutes=80), n=70, right=60)
    _labelled(engine, model_id=model_id, version_id=version_id, start=now - HOUR, n=7,
              right=7, labelled=False)
    firing_id = save_rule(engine=engine, actor=SYSTEM, rule=_rule("accuracy", 5400))
    quiet_id = save_rule(engine=engine, actor=SYSTEM, rule=LabelBacklogRule(
        name="churn backlog", model="churn", size=5, resolve_size=0))
    off_id = save_rule(engine=engine, actor=SYSTEM, rule=_rule("macro_f1", 7200))
    set_enabled(engine=engine, actor=SYSTEM, rule_id=off_id, enabled=False)
    with session_scope(engine, write=True) as session:
        session.add(AlertState(rule_id=firing_id, status="firing", since=now, fired_at=now))
        session.add(AlertState(rule_id=quiet_id, status="pending", since=now))
    task = FiguresTask(engine=engine, clock=lambda: now)
    task.step()
    figures = task.latest()
    assert figures.computed_at == now
    assert {f.window for f in figures.quality} == {"1d", "90m"}  # the disabled rule's 2h: no
    assert figures.label_backlog == (("churn", 7),)
    assert {(r.rule, r.severity, r.firing) for r in figures.firing} == {
        ("churn accuracy", "warning", True), ("churn backlog", "warning", False)}


def test_new_labels_reach_the_next_run(engine: Engine) -> None:
    start = _now() - 2 * HOUR
    model_id, version_id = make_model(engine)
    _labelled(engine, model_id=model_id, version_id=version_id, start=start, n=40, right=40)
    clock = [start + HOUR]
    task = FiguresTask(engine=engine, clock=lambda: clock[0])
    task.step()
    first = {(f.version, f.metric): f for f in task.latest().quality}
    assert first[("all", "accuracy")].labels == 40
    # Labels set after the first run (two minutes later), all of them wrong.
    _labelled(engine, model_id=model_id, version_id=version_id,
              start=start + HOUR + timedelta(seconds=10), n=1, right=0)
    clock[0] = start + HOUR + timedelta(minutes=2)
    task.step()
    second = {(f.version, f.metric): f for f in task.latest().quality}
    assert second[("all", "accuracy")].labels == 41
    assert second[("all", "accuracy")].estimate == pytest.approx(40 / 41)
