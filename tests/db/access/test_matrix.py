"""Who may call which guarded service function: every role, and nobody signed in.

``GUARDED`` is the registry: each state-changing (or restricted read) service function gets
one row naming its permission, the roles expected to pass and how to call it. A refused
call must raise ``PermissionDenied`` and change nothing, audit log included; an allowed
action must leave exactly one audit entry by its caller. When a later change implements an
action listed in ``PLANNED``, it moves the action here with a row for its function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sqlalchemy import Engine, select

from db.base import utcnow
from db.models import (
    AlertRule,
    AlertSilence,
    AuditLog,
    Feedback,
    Model,
    ModelVersion,
    Prediction,
    RetrainJob,
    ShadowPrediction,
    User,
)
from db.repositories import jobs as jobs_repo
from db.repositories import registry
from db.repositories import users as users_repo
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from devstack.demo.training import build_pipeline
from services.access import Action, PermissionDenied, Principal, Role, View, can
from services.alerts import store as alerts
from services.alerts.rules import LabelBacklogRule
from services.audit import audit_actions, audit_actors, query_audit
from services.auth.passwords import hash_password
from services.auth.users import (
    create_user,
    disable_user,
    enable_user,
    end_sessions,
    list_users,
    set_password,
    set_role,
)
from services.labels.export import export_csv
from services.labels.importer import import_labels
from services.labels.save import LabelEdit, label_history, save_labels
from services.predictions.importer import import_predictions
from services.promotion.actions import promote, rollback
from services.promotion.policy import Policy
from services.registry.artifacts import save_artifact
from services.registry.registration import register_model, register_version
from services.registry.shadow import shadow_score
from services.retrain.jobs import cancel_job, start_retrain
from services.settings import Settings
from tests.factories import SCHEMA, make_model

PASSWORD = "target-password-1"
_HASH = hash_password(PASSWORD)  # once: every test seeds the same accounts


@dataclass(frozen=True)
class Guarded:
    """One guarded service function and who may call it (and the audit entries it adds)."""

    name: str
    permission: Action | View
    allowed: frozenset[Role]
    call: Callable[[Engine, Principal | None], Any]
    audit_entries: int = 1


ADMIN_ONLY = frozenset({Role.ADMIN})
AUDIT_READERS = frozenset({Role.ADMIN, Role.OPERATOR})
OPERATORS = frozenset({Role.ADMIN, Role.OPERATOR})
LABELERS = frozenset({Role.ADMIN, Role.LABELER})
LABELING_READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.LABELER})
#: The prediction the seeded store holds (unlabeled).
PREDICTION = "prediction-1"


#: The running test's own folder, for the files its calls write and read (set per test).
_folder = Path()


@pytest.fixture(autouse=True)
def _files_go_to_the_tests_folder(tmp_path: Path) -> None:
    global _folder
    _folder = tmp_path


def _import_predictions(engine: Engine, actor: Principal | None) -> Any:
    """Import a one-row prediction log written to the test's folder."""
    path = _folder / "imported.csv"
    path.write_text("prediction_id,timestamp,model,version,predicted,score_stays,"
                    "tenure_months,plan\nimported-1,2024-05-01T12:00:00Z,churn,1,stays,0.7,"
                    "3,basic\n", encoding="utf-8")
    return import_predictions(engine=engine, actor=actor, path=path)


@functools.cache
def _pipeline() -> Pipeline:
    """A tiny pipeline over the factories' schema (trained once)."""
    frame = pd.DataFrame({"tenure_months": [1.0, 2.0, 30.0, 40.0],
                          "plan": ["basic", "pro", "basic", "pro"]})
    return build_pipeline(SCHEMA).fit(frame, ["churns", "churns", "stays", "stays"])


def _add_candidate(engine: Engine) -> None:
    """A candidate v2 of churn with a real artifact (part of the seeded store)."""
    path = _folder / "churn-v2.pkl"
    sha256 = save_artifact(_pipeline(), path)
    with session_scope(engine, write=True) as session:
        registry.add_version(session=session, model_id=registry.get_model(
            session=session, name="churn").id, artifact_path=str(path),
            artifact_sha256=sha256, created_by="test")


def _served_before(engine: Engine) -> None:
    """v2 served production once and v1 again now (so there is something to roll back to)."""
    with session_scope(engine, write=True) as session:
        model = registry.get_model(session=session, name="churn")
        for number in (2, 1):
            registry.set_production(session=session, model_id=model.id, actor="test",
                                    version_id=registry.version_row_id(
                                        session=session, model=model, version=number))


def _register_version(engine: Engine, actor: Principal | None) -> Any:
    """Register churn's v3 with the seeded v2's artifact (loaded and checked)."""
    return register_version(engine=engine, actor=actor, model="churn",
                            artifact=_folder / "churn-v2.pkl")


GUARDED = [
    Guarded("create_user", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: create_user(engine=e, actor=a, username="newcomer", role="analyst",
                                     password="a-new-password")),
    Guarded("set_role", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: set_role(engine=e, actor=a, username="target", role="operator")),
    Guarded("disable_user", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: disable_user(engine=e, actor=a, username="target")),
    Guarded("enable_user", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: enable_user(engine=e, actor=a, username="sleeper")),
    Guarded("set_password", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: set_password(engine=e, actor=a, username="target",
                                      password="another-password")),
    Guarded("end_sessions of another user", Action.MANAGE_USERS, ADMIN_ONLY,
            lambda e, a: end_sessions(engine=e, actor=a, username="target")),
    Guarded("list_users", View.USERS, ADMIN_ONLY,
            lambda e, a: list_users(engine=e, actor=a)),
    Guarded("query_audit", View.AUDIT, AUDIT_READERS,
            lambda e, a: query_audit(engine=e, actor=a)),
    Guarded("audit_actors", View.AUDIT, AUDIT_READERS,
            lambda e, a: audit_actors(engine=e, actor=a)),
    Guarded("audit_actions", View.AUDIT, AUDIT_READERS,
            lambda e, a: audit_actions(engine=e, actor=a)),
    Guarded("save_labels", Action.LABEL, LABELERS,
            lambda e, a: save_labels(engine=e, actor=a,
                                     edits=[LabelEdit(PREDICTION, "churns", None)])),
    # One entry for the label, one for the import.
    Guarded("import_labels", Action.IMPORT_LABELS, LABELERS,
            lambda e, a: import_labels(engine=e, actor=a, filename="labels.csv",
                                       data=f"prediction_id,label\n{PREDICTION},churns\n"
                                       .encode(), settings=Settings()),
            audit_entries=2),
    Guarded("export_csv", View.LABELING, LABELING_READERS,
            lambda e, a: list(export_csv(engine=e, actor=a, model="churn"))),
    Guarded("label_history", View.LABELING, LABELING_READERS,
            lambda e, a: label_history(engine=e, actor=a, prediction_id=PREDICTION)),
    Guarded("import_predictions", Action.IMPORT_PREDICTIONS, OPERATORS, _import_predictions),
    Guarded("shadow_score", Action.RETRAIN, OPERATORS,
            lambda e, a: shadow_score(engine=e, actor=a, model="churn", version=2)),
    Guarded("register_model", Action.REGISTER_MODELS, OPERATORS,
            lambda e, a: register_model(engine=e, actor=a, name="triage", task="binary",
                                        classes=["low", "high"], features=SCHEMA)),
    Guarded("register_version", Action.REGISTER_MODELS, OPERATORS, _register_version),
    # The evidence is gathered from the store (too little: the reason lets it through).
    Guarded("promote", Action.PROMOTE, OPERATORS,
            lambda e, a: promote(engine=e, actor=a, model="churn", version=2, expected=1,
                                 policy=Policy(), reason="matrix")),
    Guarded("rollback", Action.ROLLBACK, OPERATORS,
            lambda e, a: rollback(engine=e, actor=a, model="churn", reason="matrix")),
    # Handed off (v1's artifact is not on this machine); no minimum of labelled rows.
    Guarded("start_retrain", Action.RETRAIN, OPERATORS,
            lambda e, a: start_retrain(engine=e, actor=a, model="churn",
                                       start=utcnow() - timedelta(days=1), end=utcnow(),
                                       preset="same", min_per_class=0, backend="webhook")),
    Guarded("cancel_job", Action.RETRAIN, OPERATORS,
            lambda e, a: cancel_job(engine=e, actor=a, job_id=_QUEUED_JOB)),
    Guarded("save_alert_rule", Action.EDIT_ALERT_RULES, OPERATORS,
            lambda e, a: alerts.save_rule(engine=e, actor=a, rule=_backlog("churn queue"))),
    Guarded("silence_alerts", Action.HANDLE_ALERTS, OPERATORS,
            lambda e, a: alerts.silence(engine=e, actor=a, model="churn", reason="matrix",
                                        until=utcnow() + timedelta(hours=1))),
    Guarded("set_alert_webhook", Action.MANAGE_ALERT_WEBHOOKS, ADMIN_ONLY,
            lambda e, a: alerts.set_webhook(engine=e, actor=a, rule_id=_RULE,
                                            url="https://hooks.example.com/a", fmt="json",
                                            allowed_hosts="hooks.example.com")),
]

#: Actions without a service function yet; each later gets rows in GUARDED.
PLANNED = {Action.CHANGE_SETTINGS}

CALLERS: list[Principal | None] = [
    *(Principal(username=f"{role.value}-1", role=role) for role in Role), None
]


def _seed(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        users_repo.create(session=session, username="boss", role="admin", password_hash=_HASH)
        users_repo.create(session=session, username="target", role="labeler",
                          password_hash=_HASH)
        sleeper = users_repo.create(session=session, username="sleeper", role="analyst",
                                    password_hash=_HASH)
        sleeper.disabled = True
    model_id, version_id = make_model(engine)
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=[{
            "id": PREDICTION, "model_id": model_id, "version_id": version_id,
            "ts": utcnow(), "features": {"tenure_months": 3.0, "plan": "basic"},
            "predicted_class": "stays",
            "scores": {"stays": 0.8}, "top_score": 0.8, "latency_ms": 1.0,
        }])
    _add_candidate(engine)
    _served_before(engine)
    _queue_job(engine)
    assert alerts.save_rule(engine=engine, actor=Principal("boss", Role.ADMIN),
                            rule=_backlog("churn backlog")) == _RULE


#: The alert rule the seeded store holds (a label backlog rule of ``churn``).
_RULE = 1


def _backlog(name: str) -> LabelBacklogRule:
    return LabelBacklogRule(name=name, model="churn", size=100, resolve_size=50)


#: The id of the retrain job the seeded store holds (queued, of the model ``tickets``).
_QUEUED_JOB = 1


def _queue_job(engine: Engine) -> None:
    tickets, _ = make_model(engine, name="tickets")
    with session_scope(engine, write=True) as session:
        job = jobs_repo.insert_job(session=session, model_id=tickets, requested_by="boss",
                                   preset="same", window_start=utcnow() - timedelta(days=1),
                                   window_end=utcnow(), note="", backend="local", params={},
                                   created_at=utcnow())
    assert job.id == _QUEUED_JOB


def _snapshot(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The state guarded actions change (users, labels, predictions, shadow answers, models
    and versions), and the audit log."""
    with session_scope(engine) as session:
        users = [tuple(u.__dict__[c.key] for c in User.__table__.columns)
                 for u in session.scalars(select(User).order_by(User.id))]
        users += [tuple(row) for row in session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler,
                   Feedback.revision).order_by(Feedback.id))]
        users += [tuple(row) for row in session.execute(
            select(Prediction.id).order_by(Prediction.id))]
        users += [tuple(row) for row in session.execute(
            select(ShadowPrediction.prediction_id, ShadowPrediction.version_id)
            .order_by(ShadowPrediction.id))]
        users += [tuple(row) for row in session.execute(
            select(ModelVersion.model_id, ModelVersion.version, ModelVersion.status)
            .order_by(ModelVersion.id))]
        users += [tuple(row) for row in session.execute(select(Model.name).order_by(Model.id))]
        users += [tuple(row) for row in session.execute(
            select(RetrainJob.id, RetrainJob.status, RetrainJob.cancel_requested)
            .order_by(RetrainJob.id))]
        users += [tuple(row) for row in session.execute(
            select(AlertRule.name, AlertRule.webhook_url).order_by(AlertRule.id))]
        users += [tuple(row) for row in session.execute(
            select(AlertSilence.id, AlertSilence.reason).order_by(AlertSilence.id))]
        audit = [(a.id, a.actor, a.action, a.object_id)
                 for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    return users, audit


def test_every_action_is_guarded_or_still_planned() -> None:
    covered = {g.permission for g in GUARDED if isinstance(g.permission, Action)}
    assert covered | PLANNED == set(Action)
    assert not covered & PLANNED


@pytest.mark.parametrize("guarded", GUARDED, ids=lambda g: g.name)
def test_the_expected_roles_agree_with_the_role_matrix(guarded: Guarded) -> None:
    assert guarded.allowed == {role for role in Role if can(role, guarded.permission)}


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.role.value if c else "anonymous")
@pytest.mark.parametrize("guarded", GUARDED, ids=lambda g: g.name)
def test_only_allowed_roles_get_through_and_refusals_change_nothing(
    engine: Engine, guarded: Guarded, caller: Principal | None
) -> None:
    _seed(engine)
    users_before, audit_before = _snapshot(engine)
    if caller is not None and caller.role in guarded.allowed:
        guarded.call(engine, caller)
        users_after, audit_after = _snapshot(engine)
        if isinstance(guarded.permission, Action):
            assert users_after != users_before
            assert len(audit_after) == len(audit_before) + guarded.audit_entries
            assert {entry[1] for entry in audit_after[len(audit_before):]} == {caller.username}
        else:
            assert (users_after, audit_after) == (users_before, audit_before)
        return
    with pytest.raises(PermissionDenied) as refused:
        guarded.call(engine, caller)
    assert (caller.username if caller else "sign in first") in str(refused.value)
    assert _snapshot(engine) == (users_before, audit_before)
