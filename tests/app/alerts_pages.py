"""Stores for the Alerts page's tests: churn with three days of labelled history (right
on 90 % of each hour's predictions, then 50 % over the last day), a stored rule, and a
rule's state and events written as the evaluator writes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from db.base import utcnow
from db.models import AlertDelivery, AlertEvent, AlertState
from db.session import session_scope
from services.access import Principal, Role
from services.alerts import store
from services.alerts.rules import QualityRule
from tests.factories import log_predictions, make_model

PAGE = "pages/alerts.py"
OPERATOR = Principal("otto", Role.OPERATOR)
#: Labelled predictions per hour of the history.
PER_HOUR = 20
FIRED = "churn accuracy 50 % < 75 % (480 labels)"


def churn_history(engine: Engine, *, hours: int = 72, bad_hours: int = 24) -> None:
    """churn (stays/churns) in production with ``hours`` of labelled predictions: 18 of
    each hour's 20 right, then 10 of 20 over the newest ``bad_hours``."""
    model_id, version_id = make_model(engine, name="churn")
    make_model(engine, name="tickets", classes=("billing", "outage", "other"))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows: list[tuple[datetime, str, str | None]] = []
    for back in range(hours, 0, -1):
        at = now - timedelta(hours=back) + timedelta(minutes=30)
        right = 10 if back <= bad_hours else 18
        rows += [(at, "stays", "stays" if i < right else "churns") for i in range(PER_HOUR)]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)


def quality_rule(**change: object) -> QualityRule:
    """churn accuracy below 75 % over 6 hours, on at least 50 labels."""
    fields: dict[str, object] = {"name": "churn accuracy", "model": "churn",
                                 "metric": "accuracy", "floor": 0.75, "resolve_at": 0.8,
                                 "window_seconds": 6 * 3600, "min_labels": 50}
    return QualityRule(**{**fields, **change})  # type: ignore[arg-type]


def saved_rule(engine: Engine, **change: object) -> int:
    return store.save_rule(engine=engine, actor=OPERATOR, rule=quality_rule(**change))


def set_state(engine: Engine, rule_id: int, status: str, message: str = "") -> datetime:
    """The rule's state as the evaluator leaves it; returns since when."""
    now = utcnow()
    with session_scope(engine, write=True) as session:
        session.merge(AlertState(rule_id=rule_id, status=status, since=now,
                                 fired_at=now if status == "firing" else None,
                                 message=message, acknowledged_note="", evaluated_at=now))
    return now


def fired_event(engine: Engine, rule_id: int, *, delivered: bool) -> None:
    """A firing event with one webhook delivery (delivered, or given up after 4 tries)."""
    now = utcnow()
    with session_scope(engine, write=True) as session:
        event = AlertEvent(rule_id=rule_id, event="firing", at=now, value=0.5, lower=0.46,
                           upper=0.54, sample_size=480, message=FIRED, silenced=False)
        session.add(event)
        session.flush()
        session.add(AlertDelivery(
            event_id=event.id, target="https://hooks.example.com/alerts", format="json",
            status="delivered" if delivered else "failed", attempts=1 if delivered else 4,
            http_status=200 if delivered else 503,
            error="" if delivered else "answered 503 four times: given up",
            next_attempt_at=now, finished_at=now))


def open_page(app: Callable[..., AppTest], role: Role, **env: str) -> AppTest:
    at = app(as_role=role, script=PAGE, **env)
    assert not at.exception, at.exception
    return at


def keys(at: AppTest, kind: str) -> set[str]:
    return {str(w.key) for w in at.get(kind) if getattr(w, "key", None)}
