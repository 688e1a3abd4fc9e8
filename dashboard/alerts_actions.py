"""The Alerts page's actions on stored rules: enable, disable, delete, acknowledge, a
rule's webhook, and silences (set one, end one).

Each control calls the store from a button's callback; the store checks the role again
(the page only decides what to show) and audits the change. What happened, or why the
store refused, is kept for the run through the page's ``report``. Inputs are keyed by the
rule or silence they act on, so switching rules never carries a half-written note over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy import Engine
from streamlit.errors import StreamlitAPIException

from dashboard import format as fmt
from dashboard.alerts_view import rule_label, silences_frame
from dashboard.data import forget_alerts
from dashboard.navigation import PAGES
from services.access import Action, PermissionDenied, Principal, can
from services.alerts.store import (
    AlertStoreError,
    Silence,
    StoredRule,
    acknowledge,
    delete_rule,
    end_silence,
    set_enabled,
    set_webhook,
    silence,
)
from services.settings import Settings

__all__ = ["ActionCtx", "show_rule_actions", "show_silences"]

#: The Models page, where a rule's retrain action leads.
MODELS_PAGE = "pages/models.py"
#: Statuses a rule can be acknowledged in.
_ACKABLE = ("pending", "firing", "unknown")


@dataclass(frozen=True)
class ActionCtx:
    """What the controls need from the page."""

    engine: Engine
    config: Settings
    user: Principal
    #: Keeps what an action did (``True``) or why it was refused (``False``) for the run.
    report: Callable[[bool, str], None]

    def may(self, action: Action) -> bool:
        return can(self.user.role, action)


def _run(ctx: ActionCtx, done: str, refused: str, call: Callable[[], Any]) -> None:
    """Call the store; report what happened or why it refused (a button's callback)."""
    try:
        call()
    except (AlertStoreError, PermissionDenied, ValueError) as exc:
        ctx.report(False, f"{refused}: {exc}")
    else:
        ctx.report(True, done)
    forget_alerts()


def show_rule_actions(ctx: ActionCtx, rules: Sequence[StoredRule]) -> None:
    """Choose a rule; enable/disable and delete it (editors), acknowledge it (handlers),
    point it at a webhook (admins)."""
    by_id = {r.id: r for r in rules}
    _forget_gone("alerts-act-rule", by_id)
    chosen = st.selectbox("Rule", list(by_id), key="alerts-act-rule",
                          format_func=lambda i: rule_label(by_id[i]))
    rule = by_id[int(chosen)]
    if rule.rule.action:
        _action_link(ctx, rule)
    if ctx.may(Action.EDIT_ALERT_RULES):
        _enable_delete(ctx, rule)
    if ctx.may(Action.HANDLE_ALERTS):
        _acknowledge(ctx, rule)
    if ctx.may(Action.MANAGE_ALERT_WEBHOOKS):
        _webhook(ctx, rule)


def _forget_gone(key: str, by_id: dict[int, StoredRule]) -> None:
    """Drop a chooser's rule that is gone (deleted meanwhile), so it falls back to the first."""
    if key in st.session_state and st.session_state[key] not in by_id:
        del st.session_state[key]


def _action_link(ctx: ActionCtx, rule: StoredRule) -> None:
    """The rule's action: a link to the page it names, or a retrain of its model with
    the preset it names (opens the Models page with both chosen)."""
    action = str(rule.rule.action)
    model = rule.rule.model
    if action.startswith("retrain:"):
        preset = action.removeprefix("retrain:")
        if ctx.may(Action.RETRAIN) and st.button(
                f"Retrain {model} ({preset})…", key=f"alerts-action-{rule.id}",
                icon=":material/model_training:",
                help="Opens the Models page with this model and preset chosen."):
            st.session_state["models-model"] = model
            st.session_state[f"retrain-preset-{model}"] = preset
            st.switch_page(MODELS_PAGE)
        return
    entry = next((p for p in PAGES if p.url_path == action.strip("/")), None)
    if entry is None:
        return
    try:
        st.page_link(entry.path, label=f"{entry.title} page ({model})", icon=entry.icon)
    except StreamlitAPIException:  # the page runs without the router (no navigation)
        st.caption(f"Its action: open the {entry.title} page (/{entry.url_path}).")


def _enable_delete(ctx: ActionCtx, rule: StoredRule) -> None:
    name = rule.rule.name
    with st.container(horizontal=True, vertical_alignment="bottom"):
        flip = not rule.enabled
        st.button("Enable" if flip else "Disable", key=f"alerts-enable-{rule.id}",
                  icon=":material/toggle_on:" if flip else ":material/toggle_off:",
                  on_click=_run, args=(ctx, f"Rule {name} {'enabled' if flip else 'disabled'}.",
                                       "Not changed", lambda: set_enabled(
                                           engine=ctx.engine, actor=ctx.user,
                                           rule_id=rule.id, enabled=flip)))
        sure = st.checkbox("Delete it with its events and silences",
                           key=f"alerts-delete-sure-{rule.id}")
        st.button("Delete", key=f"alerts-delete-{rule.id}", disabled=not sure,
                  icon=":material/delete:",
                  on_click=_run, args=(ctx, f"Rule {name} deleted.", "Not deleted",
                                       lambda: delete_rule(engine=ctx.engine, actor=ctx.user,
                                                           rule_id=rule.id)))


def _acknowledge(ctx: ActionCtx, rule: StoredRule) -> None:
    state = rule.state
    if state.status not in _ACKABLE:
        st.caption(f"{fmt.md_text(rule.rule.name)} is {state.status}: nothing to acknowledge.")
        return
    if state.acknowledged_by:
        st.caption(f"Acknowledged by {fmt.md_text(state.acknowledged_by)} on "
                   f"{fmt.when(state.acknowledged_at, ctx.config.timezone)}"
                   + (f": {fmt.md_text(state.acknowledged_note)}"
                      if state.acknowledged_note else "") + ".")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        key = f"alerts-ack-note-{rule.id}"
        st.text_input("Note: who is on it and what they do", key=key, max_chars=500)
        st.button("Acknowledge", key=f"alerts-ack-{rule.id}", icon=":material/front_hand:",
                  on_click=lambda: _run(
                      ctx, f"{rule.rule.name} acknowledged.", "Not acknowledged",
                      lambda: acknowledge(engine=ctx.engine, actor=ctx.user, rule_id=rule.id,
                                          note=str(st.session_state.get(key, "")).strip())))


def _webhook(ctx: ActionCtx, rule: StoredRule) -> None:
    hosts = ctx.config.alert_webhook_hosts.strip()
    with st.container(border=True):
        st.markdown("**Webhook of this rule** (admins)")
        current = (f"its own: {fmt.md_text(rule.webhook_url)} ({rule.webhook_format})"
                   if rule.webhook_url else "the global one (OPSDASH\\_ALERT\\_WEBHOOK\\_URL)")
        st.caption(f"Notifies {current}. Allowed hosts (OPSDASH\\_ALERT\\_WEBHOOK\\_HOSTS): "
                   + (fmt.md_text(hosts) if hosts else "none, so no rule can have one")
                   + ". The signing secret comes from the environment, never from here.")
        url_key, fmt_key = f"alerts-webhook-url-{rule.id}", f"alerts-webhook-format-{rule.id}"
        st.session_state.setdefault(url_key, rule.webhook_url or "")
        st.session_state.setdefault(fmt_key, rule.webhook_format)
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.text_input("URL", key=url_key, max_chars=500)
            st.radio("Format", ["json", "alertmanager"], key=fmt_key, horizontal=True)
        with st.container(horizontal=True):
            st.button("Set the webhook", key=f"alerts-webhook-set-{rule.id}",
                      icon=":material/webhook:", on_click=lambda: _set_webhook(
                          ctx, rule, str(st.session_state.get(url_key, "")).strip() or None,
                          str(st.session_state.get(fmt_key, "json"))))
            st.button("Back to the global webhook", key=f"alerts-webhook-clear-{rule.id}",
                      disabled=rule.webhook_url is None, on_click=lambda: _set_webhook(
                          ctx, rule, None, str(st.session_state.get(fmt_key, "json"))))


def _set_webhook(ctx: ActionCtx, rule: StoredRule, url: str | None, form: str) -> None:
    done = (f"{rule.rule.name} now notifies {url} ({form})." if url else
            f"{rule.rule.name} is back on the global webhook.")
    _run(ctx, done, "Webhook not changed", lambda: set_webhook(
        engine=ctx.engine, actor=ctx.user, rule_id=rule.id, url=url, fmt=form,
        allowed_hosts=ctx.config.alert_webhook_hosts))


def show_silences(ctx: ActionCtx, rules: Sequence[StoredRule], models: Sequence[str],
                  found: Sequence[Silence]) -> None:
    """The silences in force (with End for handlers) and the form to add one."""
    tz = ctx.config.timezone
    if found:
        st.caption(f"Silences in force, times in {tz}. A silenced rule is still judged and "
                   "its events recorded, but nobody is notified and the banner leaves it out.")
        st.dataframe(silences_frame(found, tz), hide_index=True, width="stretch",
                     key="alerts-silences")
    else:
        st.caption("No silence is in force.")
    if not ctx.may(Action.HANDLE_ALERTS):
        return
    for each in found:
        st.button(f"End silence {each.id}", key=f"alerts-silence-end-{each.id}",
                  icon=":material/notifications_active:", on_click=_run, args=(
                      ctx, f"Silence {each.id} ended.", "Not ended",
                      lambda sid=each.id: end_silence(engine=ctx.engine, actor=ctx.user,
                                                      silence_id=sid)))
    _silence_form(ctx, rules, models)


def _silence_form(ctx: ActionCtx, rules: Sequence[StoredRule], models: Sequence[str]) -> None:
    tz, zone = ctx.config.timezone, ZoneInfo(ctx.config.timezone)
    by_id = {r.id: r for r in rules}
    with st.container(border=True):
        st.markdown("**Silence a rule or a model**")
        what = st.radio("Silence", ["a rule", "every rule of a model"], horizontal=True,
                        key="alerts-silence-what")
        _forget_gone("alerts-silence-rule", by_id)
        if what == "a rule" and by_id:
            st.selectbox("Rule", list(by_id), key="alerts-silence-rule",
                         format_func=lambda i: rule_label(by_id[i]))
        else:
            st.selectbox("Model", list(models), key="alerts-silence-model")
        later = datetime.now(zone) + timedelta(hours=4)
        st.session_state.setdefault("alerts-silence-day", later.date())
        st.session_state.setdefault("alerts-silence-time", time(later.hour, 0))
        with st.container(horizontal=True):
            st.date_input(f"Until ({tz})", format="YYYY-MM-DD", key="alerts-silence-day")
            st.time_input("at", step=900, key="alerts-silence-time")
        st.text_input("Reason", key="alerts-silence-reason", max_chars=500)
        st.button("Silence", key="alerts-silence-add", icon=":material/notifications_off:",
                  on_click=_add_silence, args=(ctx, what == "a rule" and bool(by_id)))


def _add_silence(ctx: ActionCtx, rule: bool) -> None:
    """Silence what the form names until its time (Silence's callback)."""
    state = st.session_state
    zone = ZoneInfo(ctx.config.timezone)
    until = datetime.combine(state["alerts-silence-day"], state["alerts-silence-time"],
                             zone).astimezone(UTC)
    reason = str(state.get("alerts-silence-reason", "")).strip()
    target: dict[str, Any] = ({"rule_id": state.get("alerts-silence-rule")} if rule else
                              {"model": state.get("alerts-silence-model")})
    _run(ctx, f"Silenced until {fmt.when(until, ctx.config.timezone)}.", "Not silenced",
         lambda: silence(engine=ctx.engine, actor=ctx.user, until=until, reason=reason,
                         **target))
