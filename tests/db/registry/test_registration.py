"""Registering models and versions of other serving stacks (``register-model``, ``add-version``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, Model, ModelVersion
from db.session import session_scope
from devstack.demo.training import build_pipeline
from services.access import CLI, PermissionDenied, Principal, Role
from services.registry.artifacts import save_artifact
from services.registry.registration import (
    RegistrationError,
    parse_feature,
    register_model,
    register_version,
)
from services.registry.shadow import ShadowError, shadow_score
from tests.cli_runner import RunCli

FEATURES = [{"name": "tenure_months", "type": "number"},
            {"name": "plan", "type": "category", "categories": ["basic", "pro"]}]
OPERATOR = Principal(username="olga", role=Role.OPERATOR)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with session_scope(engine) as session:
        return (session.scalar(select(func.count()).select_from(Model)) or 0,
                session.scalar(select(func.count()).select_from(ModelVersion)) or 0,
                session.scalar(select(func.count()).select_from(AuditLog)) or 0)


def _churn(engine: Engine) -> None:
    register_model(engine=engine, actor=CLI, name="churn", task="binary",
                   classes=["stays", "churns"], features=FEATURES)


def _artifact(tmp_path: Path, labels: list[str], name: str = "v.pkl") -> Path:
    frame = pd.DataFrame({"tenure_months": [1.0, 2.0, 30.0, 40.0],
                          "plan": ["basic", "pro", "basic", "pro"]})
    pipeline = build_pipeline(FEATURES).fit(frame, labels)
    path = tmp_path / name
    save_artifact(pipeline, path)
    return path


def test_a_model_is_registered_with_its_schema_and_audited(engine: Engine) -> None:
    registered = register_model(engine=engine, actor=OPERATOR, name="churn", task="binary",
                                classes=["stays", "churns"], features=FEATURES,
                                description="monthly churn")
    assert registered.classes == ("stays", "churns")
    with session_scope(engine) as session:
        model = session.scalars(select(Model)).one()
        assert (model.name, model.task, model.class_labels, model.feature_schema,
                model.description) == ("churn", "binary", ["stays", "churns"], FEATURES,
                                       "monthly churn")
        entry = session.scalars(select(AuditLog)).one()
    assert (entry.actor, entry.action, entry.object_type, entry.object_id) == (
        "olga", "register_model", "model", "churn")
    assert entry.details["features"] == ["tenure_months:number", "plan:category"]


@pytest.mark.parametrize(("name", "task", "classes", "features", "says"), [
    ("bad name", "binary", ["a", "b"], FEATURES, "model name 'bad name'"),
    ("", "binary", ["a", "b"], FEATURES, "model name ''"),
    ("m", "regression", ["a", "b"], FEATURES, "task must be one of binary, multiclass"),
    ("m", "binary", ["a", "b", "c"], FEATURES, "a binary model has exactly 2 classes, not 3"),
    ("m", "multiclass", ["a", "b"], FEATURES, "at least 3 classes, not 2"),
    ("m", "binary", ["a", "a"], FEATURES, "classes given twice: 'a'"),
    ("m", "binary", ["a", " b"], FEATURES, "class ' b' starts or ends with spaces"),
    ("m", "binary", ["a", ""], FEATURES, "class is empty"),
    ("m", "binary", ["a", "x" * 101], FEATURES, "longer than 100 characters"),
    ("m", "binary", ["a", "b\x00"], FEATURES, "control characters"),
    ("m", "binary", ["a", "b"], [], "at least one feature"),
    ("m", "binary", ["a", "b"], [{"name": "model", "type": "number"}],
     "feature name 'model' is a column of prediction logs"),
    ("m", "binary", ["a", "b"], [{"name": "score_a", "type": "number"}],
     "feature name 'score_a' is a column of prediction logs"),
    ("m", "binary", ["a", "b"], [FEATURES[0], FEATURES[0]], "'tenure_months' is given twice"),
    ("m", "binary", ["a", "b"], [{"name": "x", "type": "text"}],
     "type must be number or category, not 'text'"),
    ("m", "binary", ["a", "b"], [{"name": "x", "type": "number", "categories": ["a"]}],
     "categories must be a list of names of a category feature"),
    ("m", "binary", ["a", "b"], [{"name": "x", "type": "number", "unit": "s"}],
     "unknown keys unit"),
])
def test_a_bad_model_is_refused_with_every_reason_and_nothing_written(
        engine: Engine, name: str, task: str, classes: list[str],
        features: list[dict[str, object]], says: str) -> None:
    with pytest.raises(RegistrationError) as raised:
        register_model(engine=engine, actor=CLI, name=name, task=task, classes=classes,
                       features=features)
    assert says in str(raised.value)
    assert _counts(engine) == (0, 0, 0)


def test_all_problems_are_reported_at_once(engine: Engine) -> None:
    with pytest.raises(RegistrationError) as raised:
        register_model(engine=engine, actor=CLI, name="bad name", task="binary",
                       classes=["a"], features=[])
    message = str(raised.value)
    for part in ("model name", "exactly 2 classes", "at least one feature"):
        assert part in message


def test_a_taken_name_is_refused_and_the_first_model_kept(engine: Engine) -> None:
    _churn(engine)
    with pytest.raises(RegistrationError, match="'churn' is already registered"):
        register_model(engine=engine, actor=CLI, name="churn", task="multiclass",
                       classes=["a", "b", "c"], features=FEATURES)
    with session_scope(engine) as session:
        assert session.scalars(select(Model.task)).all() == ["binary"]
    assert _counts(engine) == (1, 0, 1)


@pytest.mark.parametrize(("text", "spec"), [
    ("age:number", {"name": "age", "type": "number"}),
    ("plan:category", {"name": "plan", "type": "category"}),
    ("plan:category:basic|pro", {"name": "plan", "type": "category",
                                 "categories": ["basic", "pro"]}),
])
def test_features_are_read_from_name_and_type(text: str, spec: dict[str, object]) -> None:
    assert parse_feature(text) == spec


@pytest.mark.parametrize("text", ["age", "age:int", "age:number:1|2", ":"])
def test_a_malformed_feature_says_how_to_write_it(text: str) -> None:
    with pytest.raises(RegistrationError, match=r"NAME:number|only a category feature"):
        parse_feature(text)


def test_versions_without_artifact_count_up_as_candidates(engine: Engine) -> None:
    _churn(engine)
    first = register_version(engine=engine, actor=OPERATOR, model="churn", notes="bentoml")
    second = register_version(engine=engine, actor=OPERATOR, model="churn")
    assert (first.version, second.version) == (1, 2)
    assert first.artifact_path == first.artifact_sha256 == ""
    with session_scope(engine) as session:
        rows = session.execute(select(ModelVersion.version, ModelVersion.status,
                                      ModelVersion.created_by, ModelVersion.notes)
                               .order_by(ModelVersion.version)).all()
        entries = session.execute(select(AuditLog.action, AuditLog.object_id)
                                  .order_by(AuditLog.id)).all()
    assert [tuple(r) for r in rows] == [(1, "candidate", "olga", "bentoml"),
                                        (2, "candidate", "olga", "")]
    assert [tuple(e) for e in entries] == [("register_model", "churn"),
                                           ("register_version", "churn:v1"),
                                           ("register_version", "churn:v2")]


def test_a_version_with_an_artifact_stores_its_checked_hash(
        engine: Engine, tmp_path: Path) -> None:
    _churn(engine)
    path = _artifact(tmp_path, ["churns", "churns", "stays", "stays"])
    added = register_version(engine=engine, actor=CLI, model="churn", artifact=path)
    assert added.artifact_path == str(path.resolve())
    assert added.artifact_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("make", "says"), [
    (lambda tmp: tmp / "missing.pkl", "is not a file"),
    (lambda tmp: (tmp / "text.pkl", (tmp / "text.pkl").write_text("hello"))[0],
     "cannot be loaded: UnpicklingError"),
    (lambda tmp: _artifact(tmp, ["yes", "yes", "no", "no"]),
     "the artifact answers ['no', 'yes'] but churn's classes are ['stays', 'churns']"),
])
def test_a_bad_artifact_is_refused_and_nothing_written(
        engine: Engine, tmp_path: Path, make: Callable[[Path], Path], says: str) -> None:
    _churn(engine)
    path = make(tmp_path)
    with pytest.raises(RegistrationError) as raised:
        register_version(engine=engine, actor=CLI, model="churn", artifact=path)
    assert says in str(raised.value)
    assert _counts(engine) == (1, 0, 1)


def test_an_unknown_model_lists_the_registered_ones(engine: Engine) -> None:
    _churn(engine)
    with pytest.raises(RegistrationError, match=r"no model named 'churm' \(registered: churn\)"):
        register_version(engine=engine, actor=CLI, model="churm")


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER])
def test_roles_without_the_permission_change_nothing(engine: Engine, role: Role) -> None:
    _churn(engine)
    someone = Principal(username="someone", role=role)
    with pytest.raises(PermissionDenied):
        register_model(engine=engine, actor=someone, name="other", task="binary",
                       classes=["a", "b"], features=FEATURES)
    with pytest.raises(PermissionDenied):
        register_version(engine=engine, actor=someone, model="churn")
    assert _counts(engine) == (1, 0, 1)


def test_a_version_served_elsewhere_cannot_be_shadow_scored(engine: Engine) -> None:
    _churn(engine)
    register_version(engine=engine, actor=CLI, model="churn")
    with pytest.raises(ShadowError, match="registered without an artifact"):
        shadow_score(engine=engine, actor=CLI, model="churn", version=1)


def test_bring_your_own_logs_from_an_empty_store(run_cli: RunCli, tmp_path: Path) -> None:
    """The whole path a team without our inference service takes, by the command line."""
    status, out, err = run_cli("register-model", "triage", "--task", "multiclass",
                               "--classes", "low,mid,high", "--feature", "length:number",
                               "--feature", "channel:category:mail|phone|web")
    assert (status, err) == (0, "")
    assert "registered triage (multiclass: low, mid, high)" in out
    status, out, err = run_cli("add-version", "triage", "--json")
    assert status == 0, err
    assert json.loads(out) == {"model": "triage", "version": 1, "status": "candidate",
                               "artifact_path": None, "artifact_sha256": None}
    log = tmp_path / "log.csv"
    log.write_text("prediction_id,timestamp,model,version,predicted,score_low,score_mid,"
                   "score_high,length,channel\n"
                   "p1,2026-01-05T10:00:00Z,triage,v1,low,0.7,0.2,0.1,120,mail\n"
                   "p2,2026-01-05T10:01:00Z,triage,v1,high,0.1,0.3,0.6,40,web\n"
                   "p3,2026-01-05T10:02:00Z,triage,v1,mid,0.2,0.5,0.3,75,phone\n",
                   encoding="utf-8")
    status, out, err = run_cli("import-predictions", str(log))
    assert status == 0, err
    labels = tmp_path / "labels.csv"
    labels.write_text("prediction_id,label\np1,low\np2,mid\np3,mid\n", encoding="utf-8")
    status, out, err = run_cli("import-labels", str(labels))
    assert status == 0, err
    status, out, err = run_cli("metrics", "--model", "triage", "--json", "--bootstrap", "0")
    assert status == 0, err
    figures = json.loads(out)
    assert (figures["n_labelled"], figures["accuracy"]) == (3, pytest.approx(2 / 3))
    status, out, err = run_cli("models", "--json")
    assert [v["version"] for v in json.loads(out)["models"][0]["versions"]] == [1]


def test_the_command_line_refuses_with_one_line(run_cli: RunCli) -> None:
    status, out, err = run_cli("register-model", "m", "--task", "binary", "--classes", "a,b",
                               "--feature", "x:text")
    assert (status, out) == (2, "")
    assert err.startswith("error: feature 'x:text': write NAME:number")
    status, out, err = run_cli("register-model", "m", "--task", "binary", "--classes", "a,b")
    assert status == 2
    assert err == "error: a model needs at least one feature\n"
    status, _, err = run_cli("add-version", "m")
    assert (status, err) == (2, "error: no model named 'm' (registered: none)\n")
