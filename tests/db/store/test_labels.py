"""The label repository: a batch that loses a race writes none of its rows and leaves the
rest of the transaction alone; look-ups by id span more ids than one query binds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from db.models import Feedback, Prediction
from db.repositories import labels as labels_repo
from db.repositories.labels import NewLabel, Replacement
from db.repositories.predictions import prediction_models, stored_ids
from db.session import session_scope
from tests.factories import label_state, log_predictions, make_model

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
AT = T0 + timedelta(days=1)


def _predictions(engine: Engine, n: int) -> list[str]:
    model_id, version_id = make_model(engine)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0 + timedelta(minutes=i), "stays", None) for i in range(n)])


def _insert(engine: Engine, *pids: str) -> None:
    with session_scope(engine, write=True) as session:
        assert labels_repo.insert_labels(session=session,
                                         labels=[NewLabel(p, "churns", "ann") for p in pids],
                                         source="ui", at=T0)


def test_a_first_label_copies_the_predictions_facts_at_revision_one(engine: Engine) -> None:
    [pid] = _predictions(engine, 1)
    _insert(engine, pid)
    with session_scope(engine) as session:
        prediction = session.get(Prediction, pid)
        label = session.scalars(select(Feedback)).one()
    assert prediction is not None
    assert (label.label, label.labeler, label.source, label.revision) == (
        "churns", "ann", "ui", 1)
    assert label.created_at == label.updated_at == T0
    assert (label.model_id, label.version_id, label.predicted_class, label.predicted_at,
            label.top_score) == (prediction.model_id, prediction.version_id,
                                 prediction.predicted_class, prediction.ts,
                                 prediction.top_score)


def test_a_batch_naming_a_labelled_or_unknown_prediction_writes_none_of_its_rows(
    engine: Engine,
) -> None:
    taken, fresh, other, later = _predictions(engine, 4)
    _insert(engine, taken)
    with session_scope(engine, write=True) as session:
        assert labels_repo.insert_labels(session=session, labels=[NewLabel(other, "stays", "bob")],
                                         source="csv", at=AT)
        for lost in (taken, "no-such-prediction"):
            assert not labels_repo.insert_labels(
                session=session, labels=[NewLabel(fresh, "stays", "bob"),
                                         NewLabel(lost, "stays", "bob")],
                source="csv", at=AT)
        # The transaction goes on: the savepoint took back only the lost batch.
        assert labels_repo.insert_labels(session=session, labels=[NewLabel(later, "stays", "bob")],
                                         source="csv", at=AT)
    feedback, _, _ = label_state(engine)
    assert sorted(feedback) == sorted([(taken, "churns", "ann", 1), (other, "stays", "bob", 1),
                                       (later, "stays", "bob", 1)])


def test_a_replacement_batch_with_one_moved_revision_writes_none_of_its_rows(
    engine: Engine,
) -> None:
    p1, p2 = _predictions(engine, 2)
    _insert(engine, p1, p2)
    with session_scope(engine, write=True) as session:
        assert labels_repo.replace_labels(session=session,
                                          labels=[Replacement(p2, 1, "stays", "cy")],
                                          source="ui", at=AT)
        assert not labels_repo.replace_labels(
            session=session, labels=[Replacement(p1, 1, "stays", "bob"),
                                     Replacement(p2, 1, "churns", "bob")],
            source="ui", at=AT)
    assert sorted(label_state(engine)[0]) == sorted([(p1, "churns", "ann", 1),
                                                     (p2, "stays", "cy", 2)])
    with session_scope(engine, write=True) as session:
        assert labels_repo.replace_labels(
            session=session, labels=[Replacement(p1, 1, "stays", "bob"),
                                     Replacement(p2, 2, "churns", "bob")],
            source="ui", at=AT)
        stored = labels_repo.current_labels(session=session, ids=[p1, p2])
    assert {pid: (s.label, s.labeler, s.revision, s.updated_at) for pid, s in stored.items()} == {
        p1: ("stays", "bob", 2, AT), p2: ("churns", "bob", 3, AT)}


def test_look_ups_by_id_span_more_ids_than_one_query_binds(engine: Engine) -> None:
    ids = _predictions(engine, 1203)
    labelled = ids[::2]
    _insert(engine, *labelled)
    other_model, other_version = make_model(engine, name="tickets", classes=("a", "b", "c"))
    [elsewhere] = log_predictions(engine, model_id=other_model, version_id=other_version,
                                  rows=[(T0, "a", None)])
    asked = [*ids, elsewhere, "no-such-prediction"]
    with session_scope(engine) as session:
        assert stored_ids(session=session, ids=asked) == {*ids, elsewhere}
        assert labels_repo.labelled_ids(session=session, ids=asked) == set(labelled)
        assert set(labels_repo.current_labels(session=session, ids=asked)) == set(labelled)
        models = prediction_models(session=session, ids=asked)
    assert set(models) == {*ids, elsewhere}
    assert {(m.name, m.classes) for m in models.values()} == {
        ("churn", ("stays", "churns")), ("tickets", ("a", "b", "c"))}
