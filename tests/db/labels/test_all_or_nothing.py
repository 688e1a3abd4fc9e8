"""save_labels for imports: all or nothing, a labeler other than the actor, a hook in the
same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.models import AuditLog, Feedback, FeedbackHistory
from db.session import session_scope
from services.access import Principal, Role
from services.audit import record
from services.labels.save import (
    LabelConflictError,
    LabelEdit,
    LabelError,
    SaveResult,
    save_labels,
)
from tests.factories import label_state, log_predictions, make_model

ANN = Principal(username="ann", role=Role.LABELER)
BOB = Principal(username="bob", role=Role.LABELER)
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _predictions(engine: Engine, n: int = 3) -> list[str]:
    model_id, version_id = make_model(engine)
    return log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0, "stays", None)] * n)


def test_all_or_nothing_writes_nothing_when_one_edit_conflicts(engine: Engine) -> None:
    p1, p2, p3 = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None),
                                                 LabelEdit(p3, "stays", None)])
    before = label_state(engine)
    with pytest.raises(LabelConflictError, match="1 label") as refused:
        save_labels(engine=engine, actor=BOB, all_or_nothing=True,
                    edits=[LabelEdit(p2, "churns", None), LabelEdit(p1, "stays", None),
                           LabelEdit(p3, "stays", None)])
    [conflict] = refused.value.conflicts
    assert (conflict.prediction_id, conflict.stored_label, conflict.stored_by) == (
        p1, "churns", "ann")
    assert label_state(engine) == before


def test_all_or_nothing_with_replace_saves_and_counts_the_replaced(engine: Engine) -> None:
    p1, p2, p3 = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None),
                                                 LabelEdit(p3, "stays", None)])
    result = save_labels(engine=engine, actor=BOB, all_or_nothing=True, replace_conflicts=True,
                         edits=[LabelEdit(p2, "churns", None), LabelEdit(p1, "stays", None),
                                LabelEdit(p3, "stays", None)])
    assert result == SaveResult(saved=2, unchanged=1, conflicts=[], replaced=1)


def test_the_labeler_of_an_edit_is_stored_and_the_actor_audited(engine: Engine) -> None:
    p1, p2, _ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, source="csv",
                edits=[LabelEdit(p1, "churns", None, labeler="vendor-7"),
                       LabelEdit(p2, "stays", None)])
    save_labels(engine=engine, actor=ANN, source="csv", replace_conflicts=True,
                edits=[LabelEdit(p1, "stays", None, labeler="vendor-8")])
    feedback, history, _ = label_state(engine)
    assert sorted(feedback) == sorted([(p1, "stays", "vendor-8", 2), (p2, "stays", "ann", 1)])
    assert [(h[0], h[3], h[4]) for h in history] == [
        (p1, None, "vendor-7"), (p2, None, "ann"), (p1, "vendor-7", "vendor-8")]
    with session_scope(engine) as session:
        audits = [(a.actor, a.object_id, a.details.get("labeler"), a.details["old_labeler"])
                  for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert audits == [("ann", p1, "vendor-7", None), ("ann", p2, None, None),
                      ("ann", p1, "vendor-8", "vendor-7")]


@pytest.mark.parametrize("labeler", ["", "   ", "x" * 101])
def test_an_empty_or_too_long_labeler_is_refused(engine: Engine, labeler: str) -> None:
    p1, *_ = _predictions(engine)
    with pytest.raises(LabelError, match="labeler name has 1 to 100 characters"):
        save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None,
                                                               labeler=labeler)])
    assert label_state(engine)[0] == []


def test_on_saved_runs_in_the_same_transaction(engine: Engine) -> None:
    p1, p2, _ = _predictions(engine)
    seen: list[SaveResult] = []

    def summary(session: Session, result: SaveResult) -> None:
        seen.append(result)
        record(session=session, actor="ann", action="import_labels", object_type="label_file",
               object_id="a.csv", details={"saved": result.saved})

    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)],
                on_saved=summary)
    assert seen == [SaveResult(saved=1, unchanged=0, conflicts=[])]
    with session_scope(engine) as session:
        assert [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))] == [
            "label", "import_labels"]

    def failing(session: Session, result: SaveResult) -> None:
        raise RuntimeError("the summary could not be written")

    before = label_state(engine)
    with pytest.raises(RuntimeError):
        save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p2, "churns", None)],
                    on_saved=failing)
    assert label_state(engine) == before


def test_history_and_feedback_agree_on_the_labeler(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None, labeler="v")])
    with session_scope(engine) as session:
        row: Any = session.execute(select(Feedback.labeler, FeedbackHistory.new_labeler)
                                   .join(FeedbackHistory,
                                         FeedbackHistory.prediction_id == Feedback.prediction_id)
                                   ).one()
    assert tuple(row) == ("v", "v")
