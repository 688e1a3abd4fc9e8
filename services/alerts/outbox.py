"""The outbox: send queued notifications whose time has come, one attempt each, and record
what happened.

A delivery is claimed before it is sent (a conditional update that counts the attempt and
holds it past the attempt's timeout), so two workers never send the same one twice, and a
worker that dies mid-attempt leaves it to be tried again. A 2xx answer delivers it; a
failure that may pass (no answer, a timeout, 429, 5xx) is tried again after
:func:`services.alerts.notify.retry_delay`, until ``OPSDASH_ALERT_WEBHOOK_ATTEMPTS``
attempts; then, or at once for a failure that will not pass (a 4xx, a target the
allow-list refuses, no signing secret), it is given up as *failed* with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import alert_runs
from db.session import session_scope
from services.alerts.notify import Attempt, Notification, body_for, retry_delay, send_once
from services.settings import Settings

__all__ = ["ALERTMANAGER_HOLD", "ALERTMANAGER_REPEAT", "BATCH", "CLAIM_GRACE_SECONDS",
           "deliver_due"]

logger = logging.getLogger(__name__)

#: Most deliveries one look sends (the rest wait for the next look).
BATCH = 20
#: A claimed delivery is held this long beyond the attempt's timeout.
CLAIM_GRACE_SECONDS = 30.0
#: A firing alert sent to an Alertmanager says it holds this long (its ``endsAt``) ...
ALERTMANAGER_HOLD = timedelta(hours=1)
#: ... and the evaluator re-sends it this often while the rule keeps firing, so
#: Alertmanager never resolves by itself an alert that is still firing here.
ALERTMANAGER_REPEAT = timedelta(minutes=20)


def deliver_due(*, engine: Engine, settings: Settings, now: datetime | None = None) -> int:
    """Send the queued deliveries due at ``now`` (at most :data:`BATCH`), one attempt each;
    returns how many attempts were made (delivered or not)."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    with session_scope(engine) as session:
        due = alert_runs.due_deliveries(session=session, now=clock(), limit=BATCH)
    return sum(_attempt(engine, settings, delivery_id, clock) for delivery_id in due)


def _attempt(engine: Engine, settings: Settings, delivery_id: int,
             clock: Callable[[], datetime]) -> bool:
    """One attempt at one delivery, if this sender wins its claim."""
    at = clock()
    hold = timedelta(seconds=settings.alert_webhook_timeout_seconds + CLAIM_GRACE_SECONDS)
    with session_scope(engine, write=True) as session:
        attempt = alert_runs.claim_delivery(session=session, delivery_id=delivery_id,
                                            now=at, until=at + hold)
    if attempt is None:
        return False
    with session_scope(engine) as session:
        found = alert_runs.delivery(session=session, delivery_id=delivery_id)
        began = None if found is None else alert_runs.firing_began(
            session=session, rule_id=found.rule.id, event_id=found.event.id)
    if found is None:
        return False
    body = body_for(_notification(found, began, settings, sent_at=at), found.format)
    result = send_once(url=found.target, body=body, secret=settings.alert_webhook_secret,
                       allowed_hosts=settings.alert_webhook_hosts,
                       timeout_s=settings.alert_webhook_timeout_seconds)
    values = _outcome(result, attempt, settings.alert_webhook_attempts, clock())
    with session_scope(engine, write=True) as session:
        recorded = alert_runs.finish_delivery(session=session, delivery_id=delivery_id,
                                              attempt=attempt, values=values)
    if recorded and values["status"] != "delivered":
        logger.warning("alert notification %d to %s, attempt %d: %s%s", delivery_id,
                       found.target, attempt, result.error,
                       " (given up)" if values["status"] == "failed" else "")
    return True


def _outcome(result: Attempt, attempt: int, attempts: int, at: datetime) -> dict[str, Any]:
    """The delivery's columns after attempt number ``attempt``."""
    if result.delivered:
        return {"status": "delivered", "http_status": result.http_status, "error": "",
                "finished_at": at}
    if not result.retry or attempt >= attempts:
        return {"status": "failed", "http_status": result.http_status,
                "error": result.error, "finished_at": at}
    return {"status": "queued", "http_status": result.http_status, "error": result.error,
            "next_attempt_at": at + retry_delay(attempt)}


def _notification(found: alert_runs.DeliveryRow, began: datetime | None,
                  settings: Settings, *, sent_at: datetime) -> Notification:
    event, rule = found.event, found.rule
    firing = event.event == "firing"
    return Notification(
        event_id=event.id, rule_id=rule.id, rule_name=rule.name, model=found.model,
        kind=rule.kind, severity=rule.severity, event=event.event, at=event.at,
        fired_at=began or event.at,
        resolved_at=event.at if event.event == "resolved" else None,
        value=event.value, lower=event.lower, upper=event.upper,
        sample_size=event.sample_size, summary=event.message,
        link=_link(settings.public_url, rule.definition.get("action")),
        expires_at=sent_at + ALERTMANAGER_HOLD if firing else None)


def _link(public_url: str, action: object) -> str:
    """The page to open: the rule's page action, else the Alerts page; empty without a
    public URL."""
    if not public_url:
        return ""
    path = action if isinstance(action, str) and action.startswith("/") else "/alerts"
    return public_url.rstrip("/") + path
