"""The Alerts page's handling of alerts under AppTest: silences (set, listed, ended),
acknowledgement with a note, a rule's webhook (admins; allowed hosts only), the event
history with its deliveries, and the banner of firing alerts above every page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from services.access import Principal, Role
from services.alerts import store
from services.audit import query_audit
from tests.app.alerts_pages import (
    FIRED,
    churn_history,
    fired_event,
    keys,
    open_page,
    saved_rule,
    set_state,
)

ADMIN = Principal("ada", Role.ADMIN)
HOSTS = "hooks.example.com"


def _frame(at: AppTest, column: str) -> dict[str, list[Any]]:
    (table,) = [d.value for d in at.dataframe if column in d.value.columns]
    return {str(c): list(table[c]) for c in table.columns}


def test_silence_a_rule_from_the_page_then_end_it(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    at = open_page(app, Role.OPERATOR)
    at.selectbox(key="alerts-silence-rule").select(rule_id)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    at.date_input(key="alerts-silence-day").set_value(tomorrow)
    at.text_input(key="alerts-silence-reason").input("planned migration of the CRM")
    at.button(key="alerts-silence-add").click().run()
    assert not at.exception
    (held,) = store.silences(engine=engine)
    assert (held.rule_id, held.reason, held.created_by) == (
        rule_id, "planned migration of the CRM", "operator-user")
    assert held.until.date() == tomorrow
    assert _frame(at, "Covers")["Covers"] == ["rule churn accuracy"]
    assert _frame(at, "Silenced until")["Silenced until"][0] != ""
    at.button(key=f"alerts-silence-end-{held.id}").click().run()
    assert not at.exception
    assert store.silences(engine=engine) == []
    assert any(c.value == "No silence is in force." for c in at.caption)


def test_silence_a_model_needs_a_reason(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine, hours=3)
    saved_rule(engine)
    at = open_page(app, Role.ADMIN)
    at.radio(key="alerts-silence-what").set_value("every rule of a model").run()
    at.selectbox(key="alerts-silence-model").select("tickets")
    at.button(key="alerts-silence-add").click().run()
    assert any("Not silenced: reason" in e.value.replace("\\", "") for e in at.error)
    assert store.silences(engine=engine) == []
    at.text_input(key="alerts-silence-reason").input("load test all afternoon")
    at.button(key="alerts-silence-add").click().run()
    (held,) = store.silences(engine=engine)
    assert (held.rule_id, held.model) == (None, "tickets")


def test_acknowledge_a_firing_rule_with_a_note(app: Callable[..., AppTest],
                                               engine: Engine) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    set_state(engine, rule_id, "firing", FIRED)
    at = open_page(app, Role.OPERATOR)
    at.text_input(key=f"alerts-ack-note-{rule_id}").input("Olga is retraining on March")
    at.button(key=f"alerts-ack-{rule_id}").click().run()
    assert not at.exception
    state = store.get_rule(engine=engine, rule_id=rule_id).state
    assert (state.acknowledged_by, state.acknowledged_note) == (
        "operator-user", "Olga is retraining on March")
    assert _frame(at, "Acknowledged by")["Acknowledged by"] == [
        "operator-user: Olga is retraining on March"]
    assert [e.actor for e in query_audit(engine=engine, actor=ADMIN,
                                         action="alert_acknowledged")] == ["operator-user"]


def test_an_inactive_rule_offers_no_acknowledgement(app: Callable[..., AppTest],
                                                     engine: Engine) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    at = open_page(app, Role.OPERATOR)
    assert f"alerts-ack-{rule_id}" not in keys(at, "button")
    assert any("is inactive: nothing to acknowledge" in c.value for c in at.caption)


def test_an_admin_points_a_rule_at_an_allowed_webhook_and_sees_a_refusal(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    at = open_page(app, Role.ADMIN, alert_webhook_hosts=HOSTS)
    assert any("hooks.example.com" in c.value for c in at.caption)
    at.text_input(key=f"alerts-webhook-url-{rule_id}").input("http://10.0.0.7/steal")
    at.button(key=f"alerts-webhook-set-{rule_id}").click().run()
    (error,) = at.error
    assert "webhook: host '10.0.0.7' is not in OPSDASH_ALERT_WEBHOOK_HOSTS" in (
        error.value.replace("\\", ""))
    assert store.get_rule(engine=engine, rule_id=rule_id).webhook_url is None
    at.text_input(key=f"alerts-webhook-url-{rule_id}").input(
        "https://hooks.example.com/opsdash")
    at.radio(key=f"alerts-webhook-format-{rule_id}").set_value("alertmanager")
    at.button(key=f"alerts-webhook-set-{rule_id}").click().run()
    found = store.get_rule(engine=engine, rule_id=rule_id)
    assert (found.webhook_url, found.webhook_format) == (
        "https://hooks.example.com/opsdash", "alertmanager")
    at.button(key=f"alerts-webhook-clear-{rule_id}").click().run()
    assert store.get_rule(engine=engine, rule_id=rule_id).webhook_url is None


def test_events_show_the_value_and_each_delivery(app: Callable[..., AppTest],
                                                 engine: Engine) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    fired_event(engine, rule_id, delivered=False)
    at = open_page(app, Role.ANALYST, timezone="Europe/Paris")
    shown = _frame(at, "Deliveries")
    assert (shown["Event"], shown["Value"], shown["Silenced"]) == (["firing"], [FIRED], [False])
    assert shown["When"][0].endswith("Europe/Paris")
    sent = _frame(at, "Attempts")
    assert sent["Target"] == ["https://hooks.example.com/alerts"]
    assert (sent["Status"], sent["Attempts"], sent["HTTP status"]) == (["failed"], [4], ["503"])
    assert sent["Error"] == ["answered 503 four times: given up"]


def _banner(at: AppTest) -> list[str]:
    return [e.value for e in [*at.error, *at.warning] if "firing" in e.value]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR], ids=["admin", "operator"])
def test_the_banner_names_firing_alerts_above_every_page_for_those_who_act(
    app: Callable[..., AppTest], engine: Engine, role: Role
) -> None:
    churn_history(engine, hours=3)
    first = saved_rule(engine)
    second = saved_rule(engine, name="churn recall", metric="recall:churns",
                        severity="critical")
    set_state(engine, first, "firing", FIRED)
    set_state(engine, second, "firing", "churn recall of churns 40 % < 75 % (240 labels)")
    at = app(as_role=role)  # the router, at the role's start page
    assert not at.exception
    (banner,) = _banner(at)
    assert banner.replace("\\", "") == (
        "2 alerts firing: churn recall of churns 40 % < 75 % (240 labels); "
        "churn accuracy 50 % < 75 % (480 labels)")
    assert banner in [e.value for e in at.error]  # one is critical: drawn as an error
    links = [getattr(link, "label", "") for link in at.main.get("page_link")]
    assert "Open the Alerts page" in links


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER], ids=["analyst", "labeler"])
def test_analysts_and_labelers_see_no_banner(app: Callable[..., AppTest], engine: Engine,
                                             role: Role) -> None:
    churn_history(engine, hours=3)
    set_state(engine, saved_rule(engine), "firing", FIRED)
    at = app(as_role=role)
    assert not at.exception
    assert not _banner(at)


def test_a_silenced_alert_leaves_the_banner(app: Callable[..., AppTest],
                                            engine: Engine) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    set_state(engine, rule_id, "firing", FIRED)
    store.silence(engine=engine, actor=ADMIN, rule_id=rule_id, reason="known: retraining",
                  until=datetime.now(UTC) + timedelta(hours=2))
    at = app(as_role=Role.OPERATOR)
    assert not at.exception
    assert not _banner(at)


def test_a_rules_action_links_to_its_page_or_opens_the_retrain_with_its_preset(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    drift = saved_rule(engine, action="/drift")
    retrain = saved_rule(engine, name="churn accuracy (retrain)", action="retrain:search")
    at = app(as_role=Role.OPERATOR)
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    at.selectbox(key="alerts-act-rule").select(drift).run()
    links = [getattr(link, "label", "") for link in at.main.get("page_link")]
    assert "Drift page (churn)" in links
    at.selectbox(key="alerts-act-rule").select(retrain).run()
    at.button(key=f"alerts-action-{retrain}").click().run()
    assert not at.exception
    assert at.session_state["models-model"] == "churn"
    assert at.session_state["retrain-preset-churn"] == "search"
    assert "Production ledger" in [s.value for s in at.subheader]  # on the Models page


def test_the_events_of_one_rule(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine, hours=3)
    first = saved_rule(engine)
    second = saved_rule(engine, name="churn recall", metric="recall:churns")
    fired_event(engine, first, delivered=True)
    fired_event(engine, second, delivered=False)
    at = open_page(app, Role.OPERATOR)
    assert _frame(at, "Deliveries")["Rule"] == ["churn recall", "churn accuracy"]
    at.selectbox(key="alerts-events-rule").select(first).run()
    assert _frame(at, "Deliveries")["Rule"] == ["churn accuracy"]
    assert _frame(at, "Attempts")["Status"] == ["delivered"]


def test_the_banner_follows_an_acknowledgement_at_once(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    set_state(engine, rule_id, "firing", FIRED)
    at = app(as_role=Role.OPERATOR)  # the router: the banner's list is read and cached
    assert [b.replace("\\", "") for b in _banner(at)] == [f"1 alert firing: {FIRED}"]
    page = open_page(app, Role.OPERATOR)
    page.text_input(key=f"alerts-ack-note-{rule_id}").input("looking at the labels")
    page.button(key=f"alerts-ack-{rule_id}").click().run()
    # The page's action dropped the cached list: the next page shows who is on it.
    at = app(as_role=Role.OPERATOR)
    assert [b.replace("\\", "") for b in _banner(at)] == [
        f"1 alert firing: {FIRED} (operator-user is on it)"]
