"""Writing late ground truth of live traffic to the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from db.models import Feedback
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.registry import add_version, create_model
from db.session import session_scope
from devstack.demo.labels import PendingLabel, StoreLabelWriter

ARRIVED = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def _store_predictions(engine: Engine, ids: list[str]) -> None:
    with session_scope(engine, write=True) as session:
        model = create_model(
            session=session,
            name="m",
            task="binary",
            class_labels=["no", "yes"],
            feature_schema=[{"name": "x", "type": "number"}],
        )
        version = add_version(
            session=session,
            model_id=model.id,
            artifact_path="a",
            artifact_sha256="0",
            created_by="t",
        )
        insert_predictions(
            session=session,
            rows=[
                {
                    "id": pid,
                    "model_id": model.id,
                    "version_id": version.id,
                    "ts": datetime(2026, 5, 1, 12, tzinfo=UTC),
                    "features": {"x": 1.0},
                    "predicted_class": "yes",
                    "scores": {"no": 0.2, "yes": 0.8},
                    "top_score": 0.8,
                    "latency_ms": 5.0,
                }
                for pid in ids
            ],
        )


def _label(pid: str, label: str = "no") -> PendingLabel:
    return PendingLabel(prediction_id=pid, label=label, due=0.0, first_due=0.0)


def test_writes_stored_predictions_and_reports_missing_and_duplicates(engine: Engine) -> None:
    _store_predictions(engine, ["p1", "p2", "p3"])
    with session_scope(engine, write=True) as session:
        insert_feedback(
            session=session,
            rows=[
                {
                    "prediction_id": "p3",
                    "label": "yes",
                    "labeler": "alice",
                    "source": "ui",
                    "created_at": ARRIVED,
                }
            ],
        )
    writer = StoreLabelWriter(engine, clock=lambda: ARRIVED)
    outcome = writer.write(
        [_label("p1"), _label("p2", "yes"), _label("p1"), _label("late"), _label("p3")]
    )
    assert sorted(outcome.written) == ["p1", "p2"]
    assert outcome.missing == ("late",)
    assert outcome.duplicate == ("p3",)
    with session_scope(engine) as session:
        rows = {f.prediction_id: f for f in session.scalars(select(Feedback))}
    assert rows["p1"].label == "no"
    assert rows["p2"].label == "yes"
    assert rows["p1"].labeler == "demo-ground-truth"
    assert rows["p1"].source == "simulator"
    assert rows["p1"].created_at == ARRIVED
    assert rows["p3"].labeler == "alice"  # a human's label is never overwritten


def test_a_batch_whose_predictions_are_not_stored_yet_writes_nothing(engine: Engine) -> None:
    outcome = StoreLabelWriter(engine).write([_label("a"), _label("b")])
    assert outcome.written == ()
    assert outcome.missing == ("a", "b")
    assert StoreLabelWriter(engine).write([]).written == ()
