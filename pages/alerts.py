"""Alerts: every rule with its state, the rule editor with its backtest (operators and
admins), acting on a rule (enable, delete, acknowledge; its webhook for admins), silences,
and the history of events with each webhook delivery. Analysts read it all."""

from __future__ import annotations

import streamlit as st

from dashboard import format as fmt
from dashboard.alerts_actions import ActionCtx, show_rule_actions, show_silences
from dashboard.alerts_editor import BACKTEST_DAYS, EditorCtx, show_editor
from dashboard.alerts_view import deliveries_frame, events_frame, rules_frame
from dashboard.alerts_warmup import warm_drift_backtests
from dashboard.auth import guard
from dashboard.components import registered_models
from dashboard.resources import engine_for, settings
from services.access import Action, View, can
from services.alerts.store import events, list_rules, silences

user = guard(View.ALERTS)
config = settings()
engine = engine_for(config.resolved_database_url)
tz = config.timezone
may_edit = can(user.role, Action.EDIT_ALERT_RULES)
may_handle = can(user.role, Action.HANDLE_ALERTS)
#: Session keys: what the last action did, or why it was refused.
_DONE, _REFUSED = "_opsdash_alerts_done", "_opsdash_alerts_refused"
#: Events the history lists (the newest).
EVENTS = 200


def _report(ok: bool, text: str) -> None:
    st.session_state[_DONE if ok else _REFUSED] = text


by_name = registered_models(engine, nothing_to="watch with alert rules")
if done := st.session_state.pop(_DONE, None):
    st.success(fmt.md_text(done), icon=":material/check_circle:")
if refused := st.session_state.pop(_REFUSED, None):
    st.error(f"{fmt.md_text(refused)}. The page now shows the current state.",
             icon=":material/error:")

rules = list_rules(engine=engine)
acting = ActionCtx(engine=engine, config=config, user=user, report=_report)


def _rules() -> None:
    firing = sum(1 for r in rules if r.enabled and r.state.status == "firing")
    st.caption(f"{len(rules):,} {'rule' if len(rules) == 1 else 'rules'}, {firing:,} firing. "
               "The worker "
               "(`python -m services.worker`) judges each at its own cadence; Last seen is "
               f"what it saw then, in words. Times in {tz}.")
    if not rules:
        st.info("No alert rule yet. " + ("Create one under **Edit a rule**: the backtest "
                "shows what it would have done on the stored history before you save it."
                if may_edit else "Operators and admins create them."),
                icon=":material/info:")
        return
    st.dataframe(rules_frame(rules, tz), hide_index=True, width="stretch",
                 key="alerts-rules")
    if may_handle or may_edit:
        st.subheader("Act on a rule", anchor=False)
        show_rule_actions(acting, rules)
    else:
        st.caption(f"Alerts are handled by operators and admins; your role ({user.role}) "
                   "reads this page.")


def _events() -> None:
    by_id = {r.id: r.rule.name for r in rules}
    if st.session_state.get("alerts-events-rule") not in (None, *by_id):
        del st.session_state["alerts-events-rule"]
    chosen = st.selectbox("Events of", [None, *by_id], key="alerts-events-rule",
                          format_func=lambda i: "every rule" if i is None else by_id[i])
    shown = events(engine=engine, rule_id=chosen, limit=EVENTS)
    if not shown:
        st.caption("No event yet: a rule records one each time its status changes "
                   "(pending, firing, resolved, unknown).")
        return
    st.caption(f"The {len(shown):,} newest events, newest first; times in {tz}. Value is "
               "what the rule saw when its status changed.")
    st.dataframe(events_frame(shown, tz), hide_index=True, width="stretch",
                 key="alerts-events")
    st.subheader("Webhook deliveries", anchor=False)
    sent = deliveries_frame(shown, tz)
    if sent.empty:
        st.caption("No delivery for these events: no webhook is set (globally or on a "
                   "rule), or the events were silenced.")
        return
    st.caption("Each notification of the events above: where it went, its status, how "
               "many attempts, the last HTTP status and error.")
    st.dataframe(sent, hide_index=True, width="stretch", key="alerts-deliveries")


names = ["Rules", "Edit a rule", "Silences", "Events"] if may_edit else [
    "Rules", "Silences", "Events"]
tabs = dict(zip(names, st.tabs(names), strict=True))
with tabs["Rules"]:
    _rules()
if may_edit:
    warm_drift_backtests(config=config, rules=rules, days=BACKTEST_DAYS)
    with tabs["Edit a rule"]:
        show_editor(EditorCtx(engine=engine, config=config, user=user, rules=rules,
                              models={n: c.classes for n, c in by_name.items()},
                              report=_report))
with tabs["Silences"]:
    show_silences(acting, rules, list(by_name), silences(engine=engine))
with tabs["Events"]:
    _events()
