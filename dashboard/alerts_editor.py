"""The Alerts page's rule editor: a form per rule kind, built from the rule dataclasses'
own fields and checked by them, a backtest before saving, and Save.

Every kind of :data:`services.alerts.rules.Rule` gets a form without code of its own here:
its fields beyond the common ones become inputs by their type (a number, a text; a quality
rule's metric is chosen from the model's classes), and the rule is built from them on each
run, so a :class:`~services.alerts.rules.RuleError` (one line naming the field) shows
under the form and keeps Backtest and Save disabled. The backtest replays the rule over
the last :data:`BACKTEST_DAYS` days and draws it; Save goes through the store, which
checks the role again and audits the change.
"""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from dashboard import format as fmt
from dashboard.alerts_charts import backtest_figure, backtest_words
from dashboard.alerts_view import kind_label
from dashboard.data import alert_backtest, current_minute, forget_alerts
from services.access import PermissionDenied, Principal
from services.alerts.rules import SEVERITIES, Rule, RuleError, rule_from_dict, rule_to_dict
from services.alerts.store import AlertStoreError, StoredRule, save_rule
from services.settings import Settings

__all__ = ["BACKTEST_DAYS", "KEY", "KINDS", "show_editor"]

#: Days of history the backtest replays.
BACKTEST_DAYS = 14
#: Prefix of the editor's widget keys.
KEY = "alerts-edit"
#: Every rule kind, by its ``kind`` value, in the order of :data:`Rule`.
KINDS: dict[str, type[Any]] = {
    str(next(f.default for f in fields(cls) if f.name == "kind")): cls
    for cls in typing.get_args(Rule)
}
_COMMON = ("name", "model", "severity", "for_seconds", "action", "kind")
#: What a new rule's fields start at, by kind (the dataclasses' defaults give the rest).
_STARTS: dict[str, dict[str, Any]] = {
    "quality_below": {"metric": "accuracy", "floor": 0.75, "resolve_at": 0.8},
    "traffic_stopped": {"silence_seconds": 900},
    "label_backlog_above": {"size": 1000, "resolve_size": 800},
    "drift_share_above": {"level": 0.5, "resolve_level": 0.3},
    "serving_above": {"metric": "p95_latency", "threshold": 0.5, "resolve_at": 0.4},
}
#: The choices of a text field that has a fixed set, by kind and field.
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("serving_above", "metric"): ("p95_latency", "error_rate"),
    ("quality_below", "scope"): ("production", "all"),
}
_LABELS = {
    "metric": "Metric",
    "floor": "Floor (a share, 0 to 1)",
    "resolve_at": "Resolves when the figure is back at (the resolve threshold)",
    "window_seconds": "Window (seconds; 86400 is a day)",
    "min_labels": "Judged only with at least this many labels",
    "scope": "Predictions of (production: the version serving at each moment)",
    "silence_seconds": "Fires after no prediction for (seconds)",
    "size": "Fires above this many predictions awaiting a label",
    "resolve_size": "Resolves at or below this many",
    "level": "Fires above (drift share 0 to 1, or drift score: 1 is the test's threshold)",
    "resolve_level": "Resolves at or below",
    "window_days": "Current window (local days, today included)",
    "threshold": "Fires above (p95 latency in seconds, or error rate 0 to 1)",
    "window": "Prometheus window (a duration such as 5m)",
    "min_requests": "Judged only with at least this many requests",
}
_ACTIONS = {"": "no action", "/drift": "open the Drift page",
            "retrain:same": "start a retrain (same as production)",
            "retrain:search": "start a retrain (search)"}
#: Session keys: the rule chosen to edit, the definition whose backtest was asked for.
_EDITING, _BACKTEST = f"{KEY}-rule", f"{KEY}-backtest-of"
_log = logging.getLogger("opsdash.alerts")


@dataclass(frozen=True)
class EditorCtx:
    """What the editor needs from the page."""

    engine: Engine
    config: Settings
    user: Principal
    #: Model name → its classes.
    models: dict[str, tuple[str, ...]]
    rules: Sequence[StoredRule]
    #: Keeps what an action did (``True``) or why it was refused (``False``) for the run.
    report: Callable[[bool, str], None]


def _key(name: str, kind: str | None = None) -> str:
    return f"{KEY}-{kind}-{name}" if kind else f"{KEY}-{name}"


def _kind_fields(kind: str) -> list[Any]:
    return [f for f in fields(KINDS[kind]) if f.name not in _COMMON]


def _start_value(kind: str, field: Any) -> Any:
    if field.name in _STARTS.get(kind, {}):
        return _STARTS[kind][field.name]
    if field.default is not MISSING:
        return field.default
    hint = typing.get_type_hints(KINDS[kind]).get(field.name)
    return 0 if hint is int else 0.0 if hint is float else ""


def _load(rules: Sequence[StoredRule], models: dict[str, tuple[str, ...]]) -> None:
    """Fill the form from the rule chosen to edit, or with a new rule's starting values
    (the chooser's callback)."""
    chosen = st.session_state.get(_EDITING)
    stored = next((r for r in rules if r.id == chosen), None)
    values: dict[str, Any] = {} if stored is None else rule_to_dict(stored.rule)
    kind = str(values.get("kind", next(iter(KINDS))))
    state = st.session_state
    state[_key("kind")] = kind
    state[_key("name")] = values.get("name", "")
    state[_key("model")] = values.get("model", next(iter(models), ""))
    state[_key("severity")] = values.get("severity", "warning")
    state[_key("for_seconds")] = int(values.get("for_seconds", 0))
    state[_key("action")] = values.get("action") or ""
    for each in KINDS:
        for field in _kind_fields(each):
            value = values[field.name] if each == kind and field.name in values else (
                _start_value(each, field))
            state[_key(field.name, each)] = value
    state.pop(_BACKTEST, None)


def _defaults(models: dict[str, tuple[str, ...]]) -> None:
    """Starting values for every input the first time the editor is drawn."""
    if _key("kind") not in st.session_state:
        _load((), models)


def _field_input(kind: str, field: Any, classes: tuple[str, ...]) -> None:
    key = _key(field.name, kind)
    label = _LABELS.get(field.name, field.name.replace("_", " ").capitalize())
    hint = typing.get_type_hints(KINDS[kind]).get(field.name)
    choices = (("accuracy", "macro_f1", *(f"recall:{c}" for c in classes))
               if (kind, field.name) == ("quality_below", "metric")
               else _CHOICES.get((kind, field.name)))
    if choices is not None:
        options = list(choices)
        if st.session_state.get(key) not in options:
            options.append(str(st.session_state.get(key)))
        st.selectbox(label, options, key=key, format_func=_choice_words)
    elif hint is int:
        st.number_input(label, step=1, key=key)
    elif hint is float:
        st.number_input(label, step=0.01, format="%.4f", key=key)
    elif hint is bool:
        st.checkbox(label, key=key)
    else:
        st.text_input(label, key=key)


def _choice_words(choice: str) -> str:
    return (choice.replace("recall:", "recall of ").replace("macro_f1", "macro F1")
            .replace("_", " "))


def _common_inputs(ctx: EditorCtx) -> str:
    """Kind, name, model, severity, ``for`` and action; returns the kind chosen."""
    with st.container(horizontal=True):
        kind = st.selectbox("Kind", list(KINDS), key=_key("kind"), format_func=kind_label)
        st.text_input("Name", key=_key("name"), max_chars=100,
                      help="How the banner and the events call it.")
    with st.container(horizontal=True):
        st.selectbox("Model", list(ctx.models), key=_key("model"))
        st.selectbox("Severity", list(SEVERITIES), key=_key("severity"))
        st.number_input("Pending period, for (seconds)", step=60, key=_key("for_seconds"),
                        help="How long a breach must hold before the rule fires.")
    action = st.session_state.get(_key("action"), "")
    options = list(_ACTIONS) + ([action] if action not in _ACTIONS else [])
    st.selectbox("Action offered when it fires", options, key=_key("action"),
                 format_func=lambda a: _ACTIONS.get(a, a))
    return str(kind)


def rule_from_state(state: Any) -> Rule:
    """The rule the editor's inputs describe (``state``: the session state).

    Raises:
        RuleError: a field is invalid (the message names it).
    """
    kind = str(state[_key("kind")])
    data: dict[str, Any] = {
        "kind": kind,
        "name": str(state[_key("name")]).strip(),
        "model": str(state[_key("model")] or ""),
        "severity": str(state[_key("severity")]),
        "for_seconds": int(state[_key("for_seconds")]),
        "action": str(state[_key("action")]) or None,
    }
    for field in _kind_fields(kind):
        data[field.name] = state[_key(field.name, kind)]
    return rule_from_dict(data)


def _save(ctx: EditorCtx, rule_id: int | None) -> None:
    """Save the rule the inputs describe (Save's callback)."""
    try:
        rule = rule_from_state(st.session_state)
        saved = save_rule(engine=ctx.engine, actor=ctx.user, rule=rule, rule_id=rule_id)
    except (RuleError, AlertStoreError, PermissionDenied) as exc:
        ctx.report(False, f"Not saved: {exc}")
        return
    forget_alerts()  # a changed rule starts afresh: it leaves the banner until judged again
    ctx.report(True, f"Rule {rule.name} saved ({'updated' if rule_id else 'created'}; "
                     "the worker judges it at its next turn).")
    st.session_state[_EDITING] = saved
    st.session_state.pop(_BACKTEST, None)


def show_editor(ctx: EditorCtx) -> None:
    """Choose a rule to edit (or a new one), the form of its kind, Backtest and Save."""
    _defaults(ctx.models)
    by_id = {r.id: r for r in ctx.rules}
    if st.session_state.get(_EDITING) not in (None, *by_id):
        st.session_state[_EDITING] = None
    st.selectbox("Rule to edit", [None, *by_id], key=_EDITING,
                 format_func=lambda i: "a new rule" if i is None else by_id[i].rule.name,
                 on_change=_load, args=(ctx.rules, ctx.models))
    kind = _common_inputs(ctx)
    model = str(st.session_state.get(_key("model")) or "")
    with st.container(border=True):
        st.caption(fmt.md_text(_doc_line(KINDS[kind])))
        for field in _kind_fields(kind):
            _field_input(kind, field, ctx.models.get(model, ()))
    try:
        rule: Rule | None = rule_from_state(st.session_state)
    except RuleError as exc:
        if str(st.session_state.get(_key("name"), "")).strip():
            st.error(f"Not a valid rule: {fmt.md_text(str(exc))}", icon=":material/rule:")
        else:  # a fresh form: no need to shout
            st.caption("Name the rule to backtest and save it.")
        rule = None
    rule_id = st.session_state.get(_EDITING)
    with st.container(horizontal=True):
        if st.button(f"Backtest the last {BACKTEST_DAYS} days", key=f"{KEY}-backtest",
                     disabled=rule is None, icon=":material/history:") and rule is not None:
            st.session_state[_BACKTEST] = _definition(rule)
        st.button("Save the rule" if rule_id is None else "Save the changes", type="primary",
                  key=f"{KEY}-save", disabled=rule is None, icon=":material/save:",
                  on_click=_save, args=(ctx, rule_id))
    if rule is not None and st.session_state.get(_BACKTEST) == _definition(rule):
        _backtest(ctx, rule)
    elif rule is not None:
        st.caption("Backtest first to see when this rule would have fired and resolved on "
                   "the stored history.")


def _doc_line(cls: type[Any]) -> str:
    """The kind's description: the first paragraph of its docstring, on one line, field
    names as plain words."""
    first = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(first.split()).replace("``", "")


def _definition(rule: Rule) -> str:
    return json.dumps(rule_to_dict(rule), sort_keys=True)


def _backtest(ctx: EditorCtx, rule: Rule) -> None:
    """Replay the rule (cached for the hour) and draw it, or say why it cannot be."""
    try:
        result = alert_backtest(ctx.config.resolved_database_url, _definition(rule),
                                BACKTEST_DAYS, current_minute()[:-2])
    except (ValueError, LookupError, NotImplementedError) as exc:  # RegistryError, a kind
        st.info(f"No backtest for this rule: {fmt.md_text(str(exc) or type(exc).__name__)}.",
                icon=":material/info:")
        return
    except Exception:  # the editor stays usable: Save does not need the backtest
        _log.exception("the backtest of %r failed", rule.name)
        st.warning("The backtest failed (the server log has the details); the rule can "
                   "still be saved.", icon=":material/warning:")
        return
    st.markdown(f"**{fmt.md_text(backtest_words(result, ctx.config.timezone))}**")
    st.plotly_chart(backtest_figure(rule=rule, result=result, tz=ctx.config.timezone),
                    key=f"{KEY}-backtest-chart", config={"displaylogo": False})
