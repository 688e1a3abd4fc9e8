"""Two versions on the same labelled predictions, and the unlabelled ones where they differ."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix
from sqlalchemy import Engine

from db.base import utcnow
from db.models import ModelVersion
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.registry import RegistryError
from db.repositories.shadow import disagreements, insert_shadow
from db.session import session_scope
from services.quality.compare import compare_versions
from services.quality.metrics import QualityError
from tests.factories import make_model

NOW = utcnow()
LABELS = ["stays", "churns"]


def _versions(engine: Engine) -> dict[int, int]:
    """churn v1 (production), v2 and v3 (candidates): version number -> row id."""
    model_id, v1 = make_model(engine, name="churn")
    ids = {1: v1}
    with session_scope(engine, write=True) as session:
        for number in (2, 3):
            ids[number] = registry.add_version(
                session=session, model_id=model_id, artifact_path=f"/nonexistent/v{number}",
                artifact_sha256="0" * 64, created_by="test").id
    ids[0] = model_id
    return ids


def _store(engine: Engine, ids: dict[int, int], rows: list[tuple[
        str, int, float, str, str | None, dict[int, str]]]) -> None:
    """Rows ``(name, made by version, hours ago, class logged, label, {version: shadow})``."""
    predictions, labels, shadows = [], [], []
    for name, made_by, hours, logged, label, shadow in rows:
        ts = NOW - timedelta(hours=hours)
        predictions.append({
            "id": name, "model_id": ids[0], "version_id": ids[made_by], "ts": ts,
            "features": {}, "predicted_class": logged, "scores": {logged: 0.7},
            "top_score": 0.7, "latency_ms": 1.0})
        if label is not None:
            labels.append({"prediction_id": name, "label": label, "labeler": "ann",
                           "source": "ui", "created_at": ts + timedelta(minutes=5)})
        for version, answer in shadow.items():
            shadows.append({
                "prediction_id": name, "version_id": ids[version], "predicted_at": ts,
                "predicted_class": answer, "top_score": 0.9, "scores": {answer: 0.9},
                "scored_at": NOW})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=predictions)
        insert_feedback(session=session, rows=labels)
        assert insert_shadow(session=session, rows=shadows) == len(shadows)


# (name, made by, hours ago, logged class, label, shadow answers by version)
LABELLED = [
    ("p1", 1, 1, "stays", "stays", {2: "stays"}),     # both right
    ("p2", 1, 2, "stays", "churns", {2: "churns"}),   # only v2 right
    ("p3", 1, 3, "stays", "stays", {2: "churns"}),    # only v1 right
    ("p4", 1, 4, "churns", "churns", {}),             # v2 never answered: left out
    ("p5", 2, 5, "churns", "churns", {1: "stays"}),   # made by v2, v1 in the shadow
    ("p6", 3, 6, "stays", "stays", {1: "stays", 2: "stays"}),  # made by v3: both shadows
    ("p7", 3, 7, "stays", "stays", {2: "stays"}),     # v1 never answered: left out
    ("p9", 1, 100, "stays", "stays", {2: "stays"}),   # old: outside a two-day window
]
# Unlabelled: (name, made by, hours ago, logged class, None, shadow answers)
UNLABELLED = [
    ("u1", 1, 1.5, "stays", None, {2: "churns"}),      # differ
    ("u2", 1, 2.5, "stays", None, {2: "stays"}),       # agree
    ("u3", 3, 3.5, "churns", None, {1: "stays", 2: "churns"}),  # differ (v1 in shadow)
    ("u4", 3, 4.5, "churns", None, {2: "stays"}),      # production never answered
    ("u5", 1, 0.5, "churns", None, {2: "stays"}),      # differ, newest
    ("u6", 1, 50, "churns", None, {2: "stays"}),       # differ, old
    ("u7", 1, 5.5, "churns", None, {}),                # candidate never answered
]


@pytest.fixture
def ids(engine: Engine) -> dict[int, int]:
    found = _versions(engine)
    _store(engine, found, LABELLED + UNLABELLED)
    return found


def test_both_reports_rest_on_the_same_labelled_predictions(
    engine: Engine, ids: dict[int, int]
) -> None:
    got = compare_versions(engine=engine, model="churn", a=1, b=2,
                           since=NOW - timedelta(days=2))
    # p1, p2, p3, p5, p6: answers of v1 and of v2, against the labels.
    true = ["stays", "churns", "stays", "churns", "stays"]
    by_v1 = ["stays", "stays", "stays", "stays", "stays"]
    by_v2 = ["stays", "churns", "churns", "churns", "stays"]
    assert (got.shared, got.disagreements, got.only_a_right, got.only_b_right) == (5, 3, 1, 2)
    assert got.report_a.matrix.tolist() == confusion_matrix(true, by_v1, labels=LABELS).tolist()
    assert got.report_b.matrix.tolist() == confusion_matrix(true, by_v2, labels=LABELS).tolist()
    assert got.report_a.accuracy == pytest.approx(accuracy_score(true, by_v1))
    assert got.report_b.accuracy == pytest.approx(accuracy_score(true, by_v2))
    assert got.report_a.n_labelled == got.report_b.n_labelled == 5


def test_the_comparison_is_symmetric_and_the_window_counts(
    engine: Engine, ids: dict[int, int]
) -> None:
    forth = compare_versions(engine=engine, model="churn", a=1, b=2)
    back = compare_versions(engine=engine, model="churn", a=2, b=1)
    assert forth.shared == back.shared == 6  # p9 too without a window
    assert forth.report_a.matrix.tolist() == back.report_b.matrix.tolist()
    assert (back.only_a_right, back.only_b_right) == (forth.only_b_right, forth.only_a_right)
    recent = compare_versions(engine=engine, model="churn", a=1, b=2,
                              since=NOW - timedelta(hours=4, minutes=30),
                              until=NOW - timedelta(hours=1, minutes=30))
    assert recent.shared == 2  # p2 and p3
    # v1 against v3: p6 was made by v3 and v1 answered in the shadow; p7 it did not.
    with_v3 = compare_versions(engine=engine, model="churn", a=1, b=3)
    assert (with_v3.shared, with_v3.disagreements) == (1, 0)


def test_versions_without_shared_predictions_compare_empty(engine: Engine) -> None:
    found = _versions(engine)
    _store(engine, found, [("p1", 1, 1, "stays", "stays", {})])
    got = compare_versions(engine=engine, model="churn", a=1, b=2)
    assert (got.shared, got.disagreements) == (0, 0)
    assert got.report_a.accuracy is None
    assert got.report_b.n_labelled == 0


def test_bad_versions_are_refused(engine: Engine, ids: dict[int, int]) -> None:
    with pytest.raises(QualityError, match="not with itself"):
        compare_versions(engine=engine, model="churn", a=2, b=2)
    with pytest.raises(RegistryError, match="model 'churn' has no version 4"):
        compare_versions(engine=engine, model="churn", a=1, b=4)
    with pytest.raises(RegistryError, match="no model named"):
        compare_versions(engine=engine, model="nope", a=1, b=2)


def _disagreements(engine: Engine, candidate: int, limit: int = 50,
                   since: datetime | None = None) -> list[str]:
    with session_scope(engine) as session:
        version = session.get(ModelVersion, candidate)
        assert version is not None
        model_id = version.model_id
        return disagreements(session=session, model_id=model_id,
                             candidate_version_id=candidate, limit=limit, since=since)


def test_disagreements_are_unlabelled_and_newest_first(
    engine: Engine, ids: dict[int, int]
) -> None:
    assert _disagreements(engine, ids[2]) == ["u5", "u1", "u3", "u6"]
    assert _disagreements(engine, ids[2], limit=2) == ["u5", "u1"]
    assert _disagreements(engine, ids[2], since=NOW - timedelta(days=1)) == ["u5", "u1", "u3"]
    assert _disagreements(engine, ids[2], limit=0) == []
    # The production version has nothing to disagree with itself about.
    assert _disagreements(engine, ids[1]) == []


def test_no_production_version_means_no_disagreements(engine: Engine) -> None:
    model_id, v1 = make_model(engine, name="quiet", production=False)
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="x",
                                  artifact_sha256="0" * 64, created_by="test").id
    found = {0: model_id, 1: v1, 2: v2}
    _store(engine, found, [(f"q{uuid.uuid4().hex[:8]}", 1, 1, "stays", None,
                            {2: "churns"})])
    assert _disagreements(engine, v2) == []


def test_insert_shadow_skips_pairs_already_stored(engine: Engine, ids: dict[int, int]) -> None:
    row = {"prediction_id": "p4", "version_id": ids[2], "predicted_at": NOW,
           "predicted_class": "churns", "top_score": 0.8, "scores": {"churns": 0.8},
           "scored_at": NOW}
    with session_scope(engine, write=True) as session:
        assert insert_shadow(session=session, rows=[row, dict(row)]) == 1
        assert insert_shadow(session=session, rows=[row]) == 0
