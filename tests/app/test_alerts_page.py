"""The Alerts page under AppTest: what each role sees and may do, the rule editor (an
invalid rule refused with its field's message, the backtest drawn, Save creating and
updating a rule), enabling, disabling and deleting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from dashboard.alerts_editor import KINDS
from services.access import Principal, Role
from services.alerts import store
from services.alerts.rules import QualityRule, TrafficStoppedRule
from services.audit import query_audit
from tests.app.alerts_pages import (
    FIRED,
    churn_history,
    keys,
    open_page,
    saved_rule,
    set_state,
)

ADMIN = Principal("ada", Role.ADMIN)


def _rules_table(at: AppTest) -> dict[str, list[Any]]:
    (table,) = [d.value for d in at.dataframe if "Silenced until" in d.value.columns]
    return {str(c): list(table[c]) for c in table.columns}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR], ids=["admin", "operator"])
def test_operators_and_admins_see_the_rules_the_editor_and_the_controls(
    app: Callable[..., AppTest], engine: Engine, role: Role
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    set_state(engine, rule_id, "firing", FIRED)
    at = open_page(app, role, timezone="Europe/Paris")
    assert [t.label for t in at.tabs] == ["Rules", "Edit a rule", "Silences", "Events"]
    table = _rules_table(at)
    assert table["Rule"] == ["churn accuracy"]
    assert table["Kind"] == ["quality below a floor"]
    assert table["Status"][0].startswith("firing since ")
    assert table["Status"][0].endswith("Europe/Paris")
    assert table["Last seen"] == [FIRED]
    assert table["Enabled"] == [True]
    shown = keys(at, "button")
    assert {f"alerts-enable-{rule_id}", f"alerts-delete-{rule_id}", f"alerts-ack-{rule_id}",
            "alerts-edit-backtest", "alerts-edit-save", "alerts-silence-add"} <= shown
    # Webhooks are for admins alone.
    assert (f"alerts-webhook-set-{rule_id}" in shown) is (role is Role.ADMIN)


def test_analysts_read_rules_silences_and_events_and_get_no_control(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    set_state(engine, rule_id, "firing", FIRED)
    at = open_page(app, Role.ANALYST)
    assert not at.error
    assert [t.label for t in at.tabs] == ["Rules", "Silences", "Events"]
    assert _rules_table(at)["Last seen"] == [FIRED]
    assert not keys(at, "button")
    assert not at.text_input
    assert not at.number_input
    assert any("your role (analyst) reads this page" in c.value for c in at.caption)


def test_labelers_cannot_open_the_page(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine, hours=3)
    saved_rule(engine)
    at = open_page(app, Role.LABELER)
    (error,) = at.error
    assert "Your role (labeler) does not include the alerts page" in error.value
    assert not at.dataframe


def test_the_editor_refuses_an_invalid_rule_with_the_fields_message(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    at = open_page(app, Role.OPERATOR)
    at.text_input(key="alerts-edit-name").input("churn accuracy").run()
    at.number_input(key="alerts-edit-quality_below-floor").set_value(0.9).run()
    (error,) = at.error  # resolve_at 0.8 is now below the floor
    assert error.value == "Not a valid rule: resolve\\_at\\: must be between the floor and 1"
    assert at.button(key="alerts-edit-save").disabled
    assert at.button(key="alerts-edit-backtest").disabled
    at.number_input(key="alerts-edit-quality_below-resolve_at").set_value(0.95).run()
    assert not at.error
    assert not at.button(key="alerts-edit-save").disabled
    # Another kind: its own fields, checked by its own dataclass.
    at.selectbox(key="alerts-edit-kind").select("traffic_stopped").run()
    at.number_input(key="alerts-edit-traffic_stopped-silence_seconds").set_value(30).run()
    (error,) = at.error
    assert "silence\\_seconds\\: must be at least 60" in error.value
    assert store.list_rules(engine=engine) == []


def test_a_backtest_is_drawn_before_saving_and_save_creates_the_rule(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine)
    at = open_page(app, Role.OPERATOR)
    at.text_input(key="alerts-edit-name").input("churn accuracy 6h").run()
    at.number_input(key="alerts-edit-quality_below-window_seconds").set_value(6 * 3600).run()
    at.number_input(key="alerts-edit-quality_below-min_labels").set_value(50).run()
    at.selectbox(key="alerts-edit-severity").select("critical").run()
    at.selectbox(key="alerts-edit-action").select("/drift").run()
    assert not at.get("plotly_chart")
    at.button(key="alerts-edit-backtest").click().run()
    assert not at.exception
    # The last day's accuracy is 50 %: the rule fires once and is still firing at the end.
    words = [m.value for m in at.markdown if "Would have fired" in m.value]
    assert words
    assert words[0].startswith("**Would have fired 1 time and resolved 0 times over the "
                               "last 14 days")
    assert "still firing at the end" in words[0]
    (chart,) = at.get("plotly_chart")
    assert "Backtest of churn" in chart.proto.spec
    at.button(key="alerts-edit-save").click().run()
    assert not at.exception
    assert any("churn accuracy 6h saved" in s.value for s in at.success)
    (saved,) = store.list_rules(engine=engine)
    assert saved.rule == QualityRule(name="churn accuracy 6h", model="churn",
                                     metric="accuracy", floor=0.75, resolve_at=0.8,
                                     window_seconds=6 * 3600, min_labels=50,
                                     severity="critical", action="/drift")
    assert saved.created_by == "operator-user"
    audited = query_audit(engine=engine, actor=ADMIN, action="alert_rule_created")
    assert [e.actor for e in audited] == ["operator-user"]
    assert _rules_table(at)["Rule"] == ["churn accuracy 6h"]


def test_editing_a_rule_loads_it_and_saves_the_change(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    at = open_page(app, Role.ADMIN)
    at.selectbox(key="alerts-edit-rule").select(rule_id).run()
    assert at.text_input(key="alerts-edit-name").value == "churn accuracy"
    assert at.number_input(key="alerts-edit-quality_below-window_seconds").value == 6 * 3600
    at.number_input(key="alerts-edit-quality_below-floor").set_value(0.7).run()
    at.button(key="alerts-edit-save").click().run()
    assert not at.exception
    saved = store.get_rule(engine=engine, rule_id=rule_id)
    assert (saved.rule.floor, saved.rule.min_labels) == (0.7, 50)  # type: ignore[union-attr]
    assert saved.updated_by == "admin-user"


def test_a_taken_name_is_refused_in_words(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine, hours=3)
    saved_rule(engine)
    at = open_page(app, Role.OPERATOR)
    at.selectbox(key="alerts-edit-kind").select("traffic_stopped").run()
    at.text_input(key="alerts-edit-name").input("churn accuracy").run()
    at.button(key="alerts-edit-save").click().run()
    assert not at.exception
    assert any("Not saved: name: a rule called 'churn accuracy' exists already" in
               e.value.replace("\\", "") for e in at.error)
    assert len(store.list_rules(engine=engine)) == 1


def test_disable_enable_and_delete_a_rule(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine, hours=3)
    rule_id = saved_rule(engine)
    store.save_rule(engine=engine, actor=ADMIN,
                    rule=TrafficStoppedRule(name="churn quiet", model="churn",
                                            silence_seconds=900))
    at = open_page(app, Role.OPERATOR)
    at.button(key=f"alerts-enable-{rule_id}").click().run()
    assert not store.get_rule(engine=engine, rule_id=rule_id).enabled
    assert _rules_table(at)["Status"][0] == "disabled"
    at.button(key=f"alerts-enable-{rule_id}").click().run()
    assert store.get_rule(engine=engine, rule_id=rule_id).enabled
    assert at.button(key=f"alerts-delete-{rule_id}").disabled  # until confirmed
    at.checkbox(key=f"alerts-delete-sure-{rule_id}").check().run()
    at.button(key=f"alerts-delete-{rule_id}").click().run()
    assert not at.exception
    assert [r.rule.name for r in store.list_rules(engine=engine)] == ["churn quiet"]
    deleted = query_audit(engine=engine, actor=ADMIN, action="alert_rule_deleted")
    assert [e.actor for e in deleted] == ["operator-user"]



def test_every_kind_has_a_form_whose_starting_values_make_a_valid_rule(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    churn_history(engine, hours=3)
    at = open_page(app, Role.OPERATOR)
    at.text_input(key="alerts-edit-name").input("a rule").run()
    assert len(KINDS) >= 3
    for kind in KINDS:
        at.selectbox(key="alerts-edit-kind").select(kind).run()
        assert not at.exception, kind
        assert not at.error, (kind, [e.value for e in at.error])
        assert not at.button(key="alerts-edit-save").disabled, kind


def test_a_traffic_rule_is_backtested_too(app: Callable[..., AppTest], engine: Engine) -> None:
    churn_history(engine)  # a prediction every hour of the last three days
    at = open_page(app, Role.OPERATOR)
    at.selectbox(key="alerts-edit-kind").select("traffic_stopped").run()
    at.text_input(key="alerts-edit-name").input("churn quiet").run()
    at.number_input(key="alerts-edit-traffic_stopped-silence_seconds").set_value(7200).run()
    at.button(key="alerts-edit-backtest").click().run()
    assert not at.exception
    words = [m.value for m in at.markdown if "Would have fired" in m.value]
    # Hourly predictions never leave a gap of two hours.
    assert words[0].startswith("**Would have fired 0 times and resolved 0 times")
    (chart,) = at.get("plotly_chart")
    assert "minutes since the last prediction" in chart.proto.spec
