"""Notifications of alert events to webhooks: the payloads (our JSON, or Alertmanager's),
the signature, and one delivery attempt.

A notification is sent for a rule that starts *firing* or *resolves* (not for pending,
unknown or inactive, and never while the rule or its model is silenced). The body is
signed with HMAC-SHA256 under ``OPSDASH_ALERT_WEBHOOK_SECRET``: the header
``X-Opsdash-Signature: sha256=<hex>`` signs the attempt's ``X-Opsdash-Timestamp`` (Unix
seconds), a dot and the exact body, so a receiver can refuse a captured request replayed
later. The target must pass :func:`services.alerts.targets.check_target` at send time too
(the allow-list may have shrunk since the rule was saved); redirects are never followed;
each attempt is bounded by a short timeout, resolving, connecting and reading alike, and
reads at most a few KiB of the answer. The worker's outbox (:mod:`services.alerts.outbox`)
retries with :func:`retry_delay` up to ``OPSDASH_ALERT_WEBHOOK_ATTEMPTS`` and then gives
up, recording why.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from services.alerts.targets import TargetError, check_target
from services.redact import redact_urls
from services.webhook_signature import SIGNATURE_HEADER
from services.webhook_signature import sign as _hmac_sha256

__all__ = [
    "FORMATS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Attempt",
    "Notification",
    "alertmanager_payload",
    "body_for",
    "json_payload",
    "retry_delay",
    "send_once",
    "sign",
]

#: The header carrying the attempt's time in Unix seconds, part of what is signed.
TIMESTAMP_HEADER = "X-Opsdash-Timestamp"
#: The version of :func:`json_payload`'s layout; it changes only when a field changes
#: meaning or goes away (fields may be added within a version).
PAYLOAD_VERSION = 1
#: The bodies a webhook may take.
FORMATS = ("json", "alertmanager")
#: Most bytes of an answer read (the rest is never read; the connection is closed).
MAX_ANSWER_BYTES = 4096
#: Retry waits: the first, and the longest.
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=5)
_SNIPPET = 200
_REDIRECT = "the webhook answered with a redirect, which is never followed"
_MISSING_KEY = ("no webhook is called without a signing secret: set "
              "OPSDASH_ALERT_WEBHOOK_SECRET")


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
        expires_at: for a firing alert, until when a receiver should hold it firing without
            hearing again (Alertmanager's ``endsAt``): the worker re-sends a firing alert
            to an Alertmanager before then (``None``: the receiver's own timeout applies).
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
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    """The result of one delivery attempt.

    Attributes:
        delivered: a 2xx answer.
        http_status: the answer's status (``None``: no answer: refused, timed out).
        error: why it failed, one line (empty when delivered).
        retry: whether trying again may help (connection errors, timeouts, 408, 429 and
            5xx); a redirect, another 4xx, a refused target or a missing secret is not
            retried.
    """

    delivered: bool
    http_status: int | None
    error: str
    retry: bool


def _aware(at: datetime) -> datetime:
    """``at`` in UTC (a naive time is taken as UTC, as the store keeps them)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _utc(at: datetime) -> str:
    """``at`` in UTC as ISO 8601 to the second, ``Z``-suffixed."""
    return _aware(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def _finite(value: float | None) -> float | None:
    """``value``, or ``None`` for a missing or non-finite figure (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


def json_payload(note: Notification) -> dict[str, Any]:
    """Our JSON body: ``{"version": 1, "status": ..., "alert": {...}}``.

    Every key is always present (``null`` when the figure is missing), so a receiver
    reads one layout: the rule, model, severity, status, value with its interval, the
    labels behind it (``sample_size``), the summary, the times in UTC ISO 8601 and the
    dashboard link.
    """
    return {
        "version": PAYLOAD_VERSION,
        "status": note.event,
        "alert": {
            "event_id": note.event_id,
            "rule_id": note.rule_id,
            "rule": note.rule_name,
            "model": note.model,
            "kind": note.kind,
            "severity": note.severity,
            "status": note.event,
            "value": _finite(note.value),
            "interval": {"lower": _finite(note.lower), "upper": _finite(note.upper)},
            "sample_size": note.sample_size,
            "summary": note.summary,
            "at": _utc(note.at),
            "fired_at": _utc(note.fired_at),
            "resolved_at": None if note.resolved_at is None else _utc(note.resolved_at),
            "link": note.link or None,
        },
    }


def _figure(value: float | None) -> str | None:
    finite = _finite(value)
    return None if finite is None else f"{finite:.6g}"


def alertmanager_payload(note: Notification) -> list[dict[str, Any]]:
    """A list of one alert as Alertmanager's ``POST /api/v2/alerts`` takes it (labels
    ``alertname``, ``model``, ``severity``, ``rule_id``; annotations ``summary``;
    ``startsAt``; ``endsAt`` when resolved, or while firing the time the alert expires
    unless re-sent; ``generatorURL``).

    Labels and annotations hold strings only (the API's ``labelSet``); the labels are
    the alert's identity, so they hold nothing that changes between its firing and its
    resolution. The figures go in annotations (``value``, ``lower``, ``upper``,
    ``sample_size``), each only when known. ``endsAt`` is never before ``startsAt``
    (Alertmanager refuses that), and ``generatorURL`` is left out without a link.
    """
    annotations = {"summary": note.summary, "value": _figure(note.value),
                   "lower": _figure(note.lower), "upper": _figure(note.upper),
                   "sample_size": None if note.sample_size is None else str(note.sample_size)}
    alert: dict[str, Any] = {
        "labels": {"alertname": note.rule_name, "model": note.model,
                   "severity": note.severity, "rule_id": str(note.rule_id)},
        "annotations": {key: text for key, text in annotations.items() if text is not None},
        "startsAt": _utc(note.fired_at),
    }
    if note.event == "resolved":
        alert["endsAt"] = _utc(max(_aware(note.resolved_at or note.at),
                                   _aware(note.fired_at)))
    elif note.expires_at is not None:
        alert["endsAt"] = _utc(max(_aware(note.expires_at), _aware(note.fired_at)))
    if note.link:
        alert["generatorURL"] = note.link
    return [alert]


def body_for(note: Notification, fmt: str) -> bytes:
    """The UTF-8 JSON body in format ``json`` or ``alertmanager``.

    Raises:
        ValueError: another format.
    """
    if fmt == "json":
        payload: Any = json_payload(note)
    elif fmt == "alertmanager":
        payload = alertmanager_payload(note)
    else:
        raise ValueError(f"webhook format: {fmt!r} is not one of {', '.join(FORMATS)}")
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def sign(body: bytes, secret: str, *, timestamp: int) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of
    ``<timestamp>.<body>`` (the timestamp in Unix seconds, as the timestamp header
    carries it, then a dot, then the exact body bytes)."""
    return _hmac_sha256(f"{timestamp}.".encode() + body, secret)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: 10 s, 20 s, 40 s ... at
    most 5 minutes."""
    doublings = min(max(attempts, 1) - 1, 16)  # 10 s × 2^16 is far past the cap
    return min(FIRST_RETRY * (1 << doublings), MAX_RETRY)


def send_once(*, url: str, body: bytes, secret: str, allowed_hosts: str,
              timeout_s: float) -> Attempt:
    """POST ``body`` to ``url`` once (signed, no redirects, at most ``timeout_s``); never
    raises for a network problem (it is the :class:`Attempt`'s error).

    No secret, or a target the allow-list refuses, is a failed attempt without a
    connection, not retried.
    """
    if not secret:
        return Attempt(delivered=False, http_status=None, error=_MISSING_KEY, retry=False)
    try:
        check_target(url, allowed_hosts)
    except TargetError as exc:
        return Attempt(delivered=False, http_status=None, error=str(exc), retry=False)
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "opsdash-alerts",
               TIMESTAMP_HEADER: str(timestamp),
               SIGNATURE_HEADER: sign(body, secret, timestamp=timestamp)}
    return _post(url, body, headers, timeout_s)


class _HTTP(http.client.HTTPConnection):
    """A connection that sends nothing once its attempt's time is up (``expired``): a
    host name resolved late must not receive a notification already counted as failed."""

    def __init__(self, host: str, port: int | None, *, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.expired = threading.Event()

    def connect(self) -> None:
        super().connect()
        if self.expired.is_set():
            raise TimeoutError("connected after the attempt's time was up")


class _HTTPS(_HTTP, http.client.HTTPSConnection):
    """:class:`_HTTP` over TLS (the system's trusted certificates, the host name checked)."""


def _connection(url: str, timeout_s: float) -> tuple[_HTTP, str]:
    """A connection to ``url``'s host (not yet open) and the request's target path.

    ``http.client`` never follows a redirect and never goes through a proxy, so the
    address the allow-list checked is the one called.
    """
    parts = urlsplit(url)
    # Percent-encoded as sent: a path with spaces or letters beyond ASCII still goes out.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                   safe="/?&=%:@!$'()*+,;~")
    kind = _HTTPS if parts.scheme == "https" else _HTTP
    return kind(parts.hostname or "", parts.port, timeout=timeout_s), target


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Attempt:
    """One POST, its answer judged, within ``timeout_s`` all told.

    The exchange runs on its own thread (resolving the host name included); when the time
    is up the connection is cut, so a receiver that answers a byte at a time cannot hold
    the attempt, and the attempt is a timeout whatever the thread does next.
    """
    connection, target = _connection(url, timeout_s)
    result: list[Attempt] = []
    exchange = threading.Thread(
        target=lambda: result.append(_exchange(connection, target, body, headers, timeout_s)),
        name="alert-webhook", daemon=True)
    exchange.start()
    exchange.join(timeout_s)
    if exchange.is_alive() or not result:
        connection.expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: the exchange ended
                sock.shutdown(socket.SHUT_RDWR)
        return _late(timeout_s)
    return result[0]


def _exchange(connection: http.client.HTTPConnection, target: str, body: bytes,
              headers: dict[str, str], timeout_s: float) -> Attempt:
    """Send the request and read the start of the answer; network problems become the
    attempt's error."""
    try:
        connection.request("POST", target, body=body, headers=headers)
        answer = connection.getresponse()
        try:
            text = answer.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            text = b""  # the status came: it decides, whatever became of the body
    except ssl.SSLCertVerificationError as exc:
        return _unreached(f"the webhook's TLS certificate is not trusted "
                          f"({exc.verify_message})", retry=False)
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError):
            return _late(timeout_s)
        return _unreached(f"the webhook cannot be reached ({_reason(exc)})", retry=True)
    finally:
        connection.close()
    return _judge(answer.status, answer.reason, text)


def _reason(exc: BaseException) -> str:
    """A network error in a few words (``Connection refused``)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _late(timeout_s: float) -> Attempt:
    return _unreached(f"the webhook did not answer within {timeout_s:g} s", retry=True)


def _unreached(error: str, *, retry: bool) -> Attempt:
    return Attempt(delivered=False, http_status=None,
                   error=redact_urls(" ".join(error.split()))[:300], retry=retry)


def _judge(status: int, reason: str, text: bytes) -> Attempt:
    """What an answer means: delivered (2xx), a redirect (never followed, not retried),
    worth retrying (408, 429, 5xx) or a refusal (any other)."""
    if 200 <= status < 300:
        return Attempt(delivered=True, http_status=status, error="", retry=False)
    if 300 <= status < 400:
        return Attempt(delivered=False, http_status=status,
                       error=f"{_REDIRECT} (HTTP {status})", retry=False)
    snippet = " ".join(text.decode("utf-8", "replace").split())[:_SNIPPET]
    error = f"the webhook answered HTTP {status} {reason}".rstrip()
    return Attempt(delivered=False, http_status=status,
                   error=redact_urls(f"{error}: {snippet}" if snippet else error),
                   retry=status in (408, 429) or status >= 500)
