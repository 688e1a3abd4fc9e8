"""The Alerts page's tables and words: rules with their state, silences, events and their
deliveries, and the banner's sentence.

Pure: store results in, ``pandas`` frames and strings out, no streamlit. Times are shown in
the display time zone with its name (:func:`dashboard.format.when`); text from the store
goes into dataframes, which draw it as text.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dashboard import format as fmt
from services.alerts.store import Event, FiringAlert, Silence, StoredRule

__all__ = [
    "BANNER_NAMED",
    "banner_text",
    "deliveries_frame",
    "events_frame",
    "kind_label",
    "rule_label",
    "rules_frame",
    "silences_frame",
    "status_words",
]

#: Firing alerts the banner names one by one (the rest are counted).
BANNER_NAMED = 3

_KIND_LABELS = {
    "quality_below": "quality below a floor",
    "drift_share_above": "drift share above a level",
    "prediction_drift_above": "prediction drift",
    "serving_above": "p95 latency or error rate above the SLO",
    "traffic_stopped": "traffic stopped",
    "label_backlog_above": "labeling backlog above a size",
    "retrain_failed": "a retrain job failed",
    "bake_rollback": "a bake-watch rollback",
}


def kind_label(kind: str) -> str:
    """A rule kind in words (``quality_below`` → ``quality below a floor``)."""
    return _KIND_LABELS.get(kind, kind.replace("_", " "))


def rule_label(rule: StoredRule) -> str:
    """``churn accuracy floor (churn, firing)``: a rule as the page's choosers list it."""
    return f"{rule.rule.name} ({rule.rule.model}, {rule.state.status})"


def status_words(rule: StoredRule, tz: str) -> str:
    """``firing since 2026-12-07 14:00 UTC``; ``disabled`` for a disabled rule."""
    if not rule.enabled:
        return "disabled"
    state = rule.state
    if state.since is None:
        return state.status
    return f"{state.status} since {fmt.when(state.since, tz)}"


def _action_words(action: str | None) -> str:
    if action is None:
        return ""
    if action.startswith("retrain:"):
        return f"start a retrain ({action.removeprefix('retrain:')})"
    return f"open {action}"


def rules_frame(rules: Sequence[StoredRule], tz: str) -> pd.DataFrame:
    """Every rule: name, model, kind, severity, status and since when, what it last saw,
    silenced until, acknowledged by, enabled, action, webhook, last evaluated."""
    return pd.DataFrame({
        "Rule": [r.rule.name for r in rules],
        "Model": [r.rule.model for r in rules],
        "Kind": [kind_label(r.rule.kind) for r in rules],
        "Severity": [r.rule.severity for r in rules],
        "Status": [status_words(r, tz) for r in rules],
        "Last seen": [r.state.message or ("not evaluated yet" if r.state.evaluated_at is None
                                          else "") for r in rules],
        "Silenced until": ["" if r.silenced_until is None else fmt.when(r.silenced_until, tz)
                           for r in rules],
        "Acknowledged by": [_ack_words(r) for r in rules],
        "Enabled": [r.enabled for r in rules],
        "Action": [_action_words(r.rule.action) for r in rules],
        "Webhook": [_webhook_words(r) for r in rules],
        "Evaluated": [fmt.when(r.state.evaluated_at, tz) for r in rules],
    })


def _ack_words(rule: StoredRule) -> str:
    state = rule.state
    if state.acknowledged_by is None:
        return ""
    note = f": {state.acknowledged_note}" if state.acknowledged_note else ""
    return f"{state.acknowledged_by}{note}"


def _webhook_words(rule: StoredRule) -> str:
    if rule.webhook_url is None:
        return "global"
    return f"{rule.webhook_url} ({rule.webhook_format})"


def silences_frame(found: Sequence[Silence], tz: str) -> pd.DataFrame:
    """Silences: what they cover, until when, why, who set them."""
    return pd.DataFrame({
        "Silence": [s.id for s in found],
        "Covers": [f"rule {s.rule_name}" if s.rule_id is not None else
                   f"every rule of {s.model}" for s in found],
        "From": [fmt.when(s.starts_at, tz) for s in found],
        "Until": [fmt.when(s.until, tz) for s in found],
        "Reason": [s.reason for s in found],
        "Set by": [s.created_by for s in found],
        "Ended": ["" if s.ended_at is None else
                  f"{fmt.when(s.ended_at, tz)} by {s.ended_by or 'nobody'}" for s in found],
    })


def _value_words(event: Event) -> str:
    """What the rule saw at the event: its message, else the bare figures."""
    if event.message:
        return event.message
    if event.value is None:
        return ""
    parts = [f"{event.value:.4g}"]
    if event.lower is not None and event.upper is not None:
        parts.append(f"[{event.lower:.4g}, {event.upper:.4g}]")
    if event.sample_size is not None:
        parts.append(f"({event.sample_size:,} labels)")
    return " ".join(parts)


def _deliveries_words(event: Event) -> str:
    if not event.deliveries:
        return "none"
    return "; ".join(f"{d.status} ({d.attempts} attempts)" for d in event.deliveries)


def events_frame(found: Sequence[Event], tz: str) -> pd.DataFrame:
    """Events, as given (newest first): when, rule, what happened, the value, silenced,
    and a word on each delivery."""
    return pd.DataFrame({
        "When": [fmt.when(e.at, tz) for e in found],
        "Rule": [e.rule_name for e in found],
        "Model": [e.model for e in found],
        "Severity": [e.severity for e in found],
        "Event": [e.event for e in found],
        "Value": [_value_words(e) for e in found],
        "Silenced": [e.silenced for e in found],
        "Deliveries": [_deliveries_words(e) for e in found],
    })


def deliveries_frame(found: Sequence[Event], tz: str) -> pd.DataFrame:
    """Every delivery of the events: target, format, status, attempts, HTTP status, error."""
    rows = [(e, d) for e in found for d in e.deliveries]
    return pd.DataFrame({
        "Queued": [fmt.when(d.created_at, tz) for _, d in rows],
        "Rule": [e.rule_name for e, _ in rows],
        "Event": [e.event for e, _ in rows],
        "Target": [d.target for _, d in rows],
        "Format": [d.format for _, d in rows],
        "Status": [d.status for _, d in rows],
        "Attempts": [d.attempts for _, d in rows],
        "HTTP status": ["" if d.http_status is None else str(d.http_status) for _, d in rows],
        "Error": [d.error for _, d in rows],
        "Finished": [fmt.when(d.finished_at, tz) if d.finished_at else "" for _, d in rows],
    })


def banner_text(alerts: Sequence[FiringAlert]) -> str:
    """``2 alerts firing: churn accuracy 64 % < 75 % (1,920 labels); …`` (plain text;
    the caller escapes it for markdown). Silenced alerts are left out; ``""`` if none."""
    shown = [a for a in alerts if not a.silenced]
    if not shown:
        return ""
    noun = "alert" if len(shown) == 1 else "alerts"
    parts = []
    for alert in shown[:BANNER_NAMED]:
        who = f" ({alert.acknowledged_by} is on it)" if alert.acknowledged_by else ""
        parts.append(f"{alert.summary}{who}")
    more = len(shown) - BANNER_NAMED
    tail = f"; and {more} more" if more > 0 else ""
    return f"{len(shown)} {noun} firing: {'; '.join(parts)}{tail}"
