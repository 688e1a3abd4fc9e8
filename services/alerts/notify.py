"""Notifications of alert events to webhooks: the payloads (our JSON, or Alertmanager's),
the signature, and one delivery attempt.

A notification is sent for a rule that starts *firing* or *resolves* (not for pending,
unknown or inactive, and never while the rule or its model is silenced). The body is
signed with HMAC-SHA256 under ``OPSDASH_ALERT_WEBHOOK_SECRET`` (header
``X-Opsdash-Signature: sha256=<hex>``); the target must pass
:func:`services.alerts.targets.check_target` at send time too (the allow-list may have
shrunk since the rule was saved); redirects are never followed; each attempt has a short
timeout. The worker's outbox (:mod:`services.alerts.outbox`) retries with
:func:`retry_delay` up to ``OPSDASH_ALERT_WEBHOOK_ATTEMPTS`` and then gives up, recording
why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "SIGNATURE_HEADER",
    "Attempt",
    "Notification",
    "alertmanager_payload",
    "body_for",
    "json_payload",
    "retry_delay",
    "send_once",
    "sign",
]

SIGNATURE_HEADER = "X-Opsdash-Signature"


@dataclass(frozen=True)
class Notification:
    """What an event tells the outside world.

    Attributes:
        event: ``firing`` or ``resolved``.
        fired_at: when the firing began (the Alertmanager ``startsAt``).
        resolved_at: when it resolved (``endsAt``), ``None`` while firing.
        summary: one line like ``churn accuracy 64 % < 75 % (1,920 labels)``.
        link: the dashboard page to open (``OPSDASH_PUBLIC_URL`` + the rule's action or
            ``/alerts``), empty when no public URL is configured.
    """

    event_id: int
    rule_id: int
    rule_name: str
    model: str
    kind: str
    severity: str
    event: str
    at: datetime
    fired_at: datetime
    resolved_at: datetime | None
    value: float | None
    lower: float | None
    upper: float | None
    sample_size: int | None
    summary: str
    link: str = ""


@dataclass(frozen=True)
class Attempt:
    """The result of one delivery attempt.

    Attributes:
        delivered: a 2xx answer.
        http_status: the answer's status (``None``: no answer: refused, timed out).
        error: why it failed, one line (empty when delivered).
        retry: whether trying again may help (connection errors, timeouts, 429 and 5xx);
            a 4xx or a refused target is not retried.
    """

    delivered: bool
    http_status: int | None
    error: str
    retry: bool


def json_payload(note: Notification) -> dict[str, Any]:
    """Our JSON body: ``{"version": 1, "status": ..., "alert": {...}}``."""
    raise NotImplementedError


def alertmanager_payload(note: Notification) -> list[dict[str, Any]]:
    """A list of one alert as Alertmanager's ``POST /api/v2/alerts`` takes it (labels
    ``alertname``, ``model``, ``severity``, ``rule_id``; annotations ``summary``;
    ``startsAt``; ``endsAt`` when resolved; ``generatorURL``)."""
    raise NotImplementedError


def body_for(note: Notification, fmt: str) -> bytes:
    """The UTF-8 JSON body in format ``json`` or ``alertmanager``."""
    raise NotImplementedError


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    raise NotImplementedError


def send_once(*, url: str, body: bytes, secret: str, allowed_hosts: str,
              timeout_s: float) -> Attempt:
    """POST ``body`` to ``url`` once (signed, no redirects, at most ``timeout_s``); never
    raises for a network problem (it is the :class:`Attempt`'s error)."""
    raise NotImplementedError


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s ... at
    most 5 minutes."""
    raise NotImplementedError
