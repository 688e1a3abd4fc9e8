"""The Models page under AppTest: who may act, the verdict's three outcomes on the page,
promote and roll back through its controls, and refusals (a stale page, a crafted call)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.shadow import insert_shadow
from db.session import session_scope
from services.access import SYSTEM, PermissionDenied, Principal, Role
from services.promotion.actions import ledger, promote, rollback, versions
from services.promotion.policy import Policy
from tests.factories import make_model

PAGE = "pages/models.py"
#: When v1 became production in every store here.
V1_SINCE = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
#: Labelled predictions served by v1 and answered by v2 in the shadow.
SHARED = 80


def _production(engine: Engine) -> int | None:
    return next((r.version for r in versions(engine=engine, model="churn")
                 if r.status == "production"), None)


def _store(engine: Engine, *, better: bool, artifact: bool = True) -> tuple[int, int, int]:
    """churn: v1 in production since :data:`V1_SINCE`, right on half of :data:`SHARED`
    labelled predictions; v2 a candidate that answered them all in the shadow, always right
    (``better``) or always wrong. ``artifact=False``: v2 is served elsewhere."""
    model_id, v1 = make_model(engine, name="churn", at=V1_SINCE)
    now = utcnow()
    ids = [uuid.uuid4().hex for _ in range(SHARED)]
    labels = ["stays" if i % 2 else "churns" for i in range(SHARED)]
    other = {"stays": "churns", "churns": "stays"}
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(
            session=session, model_id=model_id, artifact_path="/models/v2.pkl" if artifact
            else "", artifact_sha256="2" * 64 if artifact else "", created_by="olga",
            notes="retrained on March").id
        insert_predictions(session=session, rows=[
            {"id": pid, "model_id": model_id, "version_id": v1, "ts": now - timedelta(hours=2),
             "features": {}, "predicted_class": "stays", "scores": {"stays": 0.8},
             "top_score": 0.8, "latency_ms": 1.0} for pid in ids])
        insert_feedback(session=session, rows=[
            {"prediction_id": pid, "label": label, "labeler": "ann", "source": "ui",
             "created_at": now} for pid, label in zip(ids, labels, strict=True)])
        insert_shadow(session=session, rows=[
            {"prediction_id": pid, "version_id": v2, "predicted_at": now - timedelta(hours=2),
             "predicted_class": label if better else other[label], "top_score": 0.9,
             "scores": {label: 0.9}, "scored_at": now}
            for pid, label in zip(ids, labels, strict=True)])
    return model_id, v1, v2


@pytest.fixture
def lenient(tmp_path: Path) -> str:
    """A policy file whose minimum the stores here meet."""
    path = tmp_path / "promotion.toml"
    path.write_text("[default]\nmin_shared = 20\n", encoding="utf-8")
    return str(path)


def _page(app: Callable[..., AppTest], role: Role, **env: str) -> AppTest:
    at = app(as_role=role, script=PAGE, **env)
    assert not at.exception, at.exception
    return at


def _promote_button(at: AppTest, version: int = 2) -> Button:
    return at.button(key=f"models-promote-churn-{version}")


def _ledger_table(at: AppTest) -> pd.DataFrame:
    (table,) = [d.value for d in at.dataframe if "From → to" in d.value.columns]
    return table


def _keys(at: AppTest, kind: str) -> set[str]:
    return {w.key for w in at.get(kind) if w.key}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR], ids=["admin", "operator"])
def test_operators_and_admins_see_versions_evidence_and_the_promote_control(
    app: Callable[..., AppTest], engine: Engine, lenient: str, role: Role
) -> None:
    _store(engine, better=True)
    at = _page(app, role, promotion_policy_file=lenient, timezone="Europe/Paris")
    assert not at.error
    table = at.dataframe[0].value
    assert list(table["Version"]) == ["v2", "v1"]
    assert list(table["Status"]) == ["candidate", "production"]
    assert list(table["Notes"]) == ["retrained on March", ""]
    assert table["Artifact"][0].startswith("sha256 222222222222")
    assert table["Created"][0].endswith("Europe/Paris")
    assert {m.label: m.value for m in at.metric}["Shared labelled predictions"] == f"{SHARED}"
    assert at.success
    assert at.success[0].value.startswith("Pass")
    assert "models-promote-churn-2" in _keys(at, "button")
    assert not _promote_button(at).disabled  # a pass needs no reason


def test_analysts_read_the_page_and_get_no_control(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    _store(engine, better=True)
    at = _page(app, Role.ANALYST, promotion_policy_file=lenient)
    assert not at.error
    assert list(at.dataframe[0].value["Version"]) == ["v2", "v1"]
    assert at.metric  # the evidence
    assert "Production ledger" in [s.value for s in at.subheader]
    assert not _keys(at, "button")
    assert not at.text_area
    assert not at.text_input
    assert any("your role (analyst) reads this page" in c.value for c in at.caption)


def test_labelers_cannot_open_the_page(app: Callable[..., AppTest], engine: Engine) -> None:
    _store(engine, better=True)
    at = _page(app, Role.LABELER)
    (error,) = at.error
    assert "Your role (labeler) does not include" in error.value
    assert not at.dataframe
    assert not at.metric


def test_a_pass_promotes_in_one_click_and_the_ledger_shows_it(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    _store(engine, better=True)
    at = _page(app, Role.OPERATOR, promotion_policy_file=lenient, timezone="Europe/Paris")
    _promote_button(at).click().run()
    assert not at.exception
    assert _production(engine) == 2
    assert any("production moved from v1 to v2" in s.value for s in at.success)
    newest = ledger(engine=engine, model="churn")[0]
    assert (newest.kind, newest.from_version, newest.to_version) == ("promote", 1, 2)
    assert (newest.actor, newest.verdict) == ("operator-user", "pass")
    assert newest.evidence is not None
    assert newest.evidence.shared == SHARED
    shown = _ledger_table(at)  # newest first
    assert shown["From → to"][0] == "v1 → v2"
    assert shown["Who"][0] == "operator-user"
    assert shown["When"][0].endswith("Europe/Paris")
    (snapshot,) = [e for e in at.expander if e.label.startswith("Evidence at the promote")]
    assert snapshot.label.endswith("v1 → v2")
    assert any("lower bound above" in m.value for m in snapshot.markdown)


def test_insufficient_evidence_says_how_to_get_more_and_blocks_until_a_reason(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    _store(engine, better=True)
    at = _page(app, Role.OPERATOR)  # the built-in policy asks for more shared labels
    (warning,) = at.warning
    assert warning.value.startswith("Insufficient evidence")
    assert "shadow-score" in at.code[0].value
    assert _promote_button(at).disabled
    at.text_area(key="models-reason-churn-2").input("customer call: ship it before Friday")
    at.run()
    assert not _promote_button(at).disabled
    _promote_button(at).click().run()
    assert _production(engine) == 2
    newest = ledger(engine=engine, model="churn")[0]
    assert newest.reason == "customer call: ship it before Friday"
    assert newest.verdict == "insufficient"


def test_a_fail_names_its_checks_and_blocks_without_a_reason(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    _store(engine, better=False)
    at = _page(app, Role.OPERATOR, promotion_policy_file=lenient)
    (error,) = at.error
    assert error.value.startswith("Fail")
    assert error.value.count("\n- ") >= 1  # each failed check on its own line
    assert _promote_button(at).disabled
    assert _production(engine) == 1


def test_rollback_returns_to_the_previous_version_with_a_reason(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    _store(engine, better=True)
    at = _page(app, Role.OPERATOR, promotion_policy_file=lenient)
    _promote_button(at).click().run()
    assert _production(engine) == 2
    assert at.selectbox(key="models-rollback-to-churn").value == 1
    button = at.button(key="models-rollback-churn")
    assert button.disabled  # a rollback needs a reason
    at.text_input(key="models-rollback-reason-churn").input("v2 times out on big accounts")
    at.run()
    at.button(key="models-rollback-churn").click().run()
    assert not at.exception
    assert _production(engine) == 1
    newest = ledger(engine=engine, model="churn")[0]
    assert (newest.kind, newest.from_version, newest.to_version) == ("rollback", 2, 1)
    assert newest.reason == "v2 times out on big accounts"
    assert _ledger_table(at)["Kind"][0] == "rollback"


def test_a_page_that_shows_an_old_production_cannot_promote_over_a_newer_one(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    model_id, _, _ = _store(engine, better=True)
    with session_scope(engine, write=True) as session:
        registry.add_version(session=session, model_id=model_id, artifact_path="/models/v3",
                             artifact_sha256="3" * 64, created_by="otto")
    at = _page(app, Role.OPERATOR, promotion_policy_file=lenient)
    at.selectbox(key="models-candidate-churn").select(2).run()  # the newest, v3, comes first
    otto = Principal(username="otto", role=Role.OPERATOR)
    promote(engine=engine, actor=otto, model="churn", version=3, expected=1, policy=Policy(),
            reason="hotfix for the pricing change")
    _promote_button(at).click().run()
    assert not at.exception
    assert _production(engine) == 3
    assert any("Not promoted" in e.value and "otto" in e.value for e in at.error)
    assert at.button(key="models-reload")


def test_a_version_served_elsewhere_needs_an_explicit_confirmation(
    app: Callable[..., AppTest], engine: Engine, lenient: str
) -> None:
    _store(engine, better=True, artifact=False)
    at = _page(app, Role.OPERATOR, promotion_policy_file=lenient)
    assert at.dataframe[0].value["Artifact"][0] == "served elsewhere"
    assert _promote_button(at).disabled
    at.checkbox(key="models-confirm-churn-2").check().run()
    _promote_button(at).click().run()
    assert _production(engine) == 2


def _served_on(at: AppTest, day: date, moment: time) -> str:
    at.date_input(key="models-at-day-churn").set_value(day)
    at.time_input(key="models-at-time-churn").set_value(moment)
    at.run()
    (answer,) = [c.value for c in at.caption if "served production of" in c.value]
    return answer


def test_the_page_answers_what_served_production_at_a_time(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    _store(engine, better=True)
    at = _page(app, Role.ANALYST, timezone="UTC")
    before = _served_on(at, V1_SINCE.date(), time(8, 59))
    assert before.startswith("Nothing served production")
    after = _served_on(at, V1_SINCE.date(), time(9, 1))
    assert after.startswith("At 2026-01-10 09:01 UTC, v1 served production")


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER], ids=["analyst", "labeler"])
def test_a_crafted_call_without_the_role_changes_nothing(engine: Engine, role: Role) -> None:
    _store(engine, better=True)
    intruder = Principal(username="mallory", role=role)
    with pytest.raises(PermissionDenied):
        promote(engine=engine, actor=intruder, model="churn", version=2, expected=1,
                policy=Policy(), reason="because")
    with pytest.raises(PermissionDenied):
        rollback(engine=engine, actor=intruder, model="churn", reason="because", to=1)
    assert _production(engine) == 1
    assert len(ledger(engine=engine, model="churn")) == 1


def test_an_automatic_rollback_is_shown_with_the_numbers_that_triggered_it(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    _store(engine, better=True)
    otto = Principal(username="otto", role=Role.OPERATOR)
    promote(engine=engine, actor=otto, model="churn", version=2, expected=1, policy=Policy(),
            reason="looks better")
    rollback(engine=engine, actor=SYSTEM, model="churn", expected=2,
             reason="bake watch: error rate over the SLO",
             trigger={"error_rate": 0.2, "slo_error_rate": 0.01})
    at = _page(app, Role.ANALYST)
    (warning,) = [w.value for w in at.warning if "automatically" in w.value]
    assert warning.startswith("system rolled production back automatically from v2 to v1")
    assert "error\\_rate 0.2" in warning
    assert _ledger_table(at)["Who"][0] == "system"
