"""The Label feedback page under AppTest: the queue, both ways of labeling, conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from streamlit.testing.v1 import AppTest

from db.base import utcnow
from db.models import AuditLog, Feedback, FeedbackHistory, Prediction, ShadowPrediction
from db.repositories import registry
from db.session import session_scope
from services.access import SYSTEM, Role
from services.labels.save import LabelEdit, save_labels
from tests.factories import log_predictions, make_model

LABELER = "labeler-user"  # the name the app fixture signs labelers in as


@pytest.fixture
def queue(engine: Engine) -> list[str]:
    """Six unlabelled predictions of ``churn`` (newest first: p0 .. p5) with set scores,
    and two labelled ones."""
    model_id, version_id = make_model(engine, name="churn")
    now = utcnow()
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(now - timedelta(hours=1 + i), "stays", None) for i in range(6)]
                          + [(now - timedelta(hours=9), "churns", "churns")] * 2)
    scores = [0.9, 0.55, 0.7, 0.51, 0.8, 0.65]
    with session_scope(engine, write=True) as session:
        for pid, score in zip(ids, scores, strict=False):
            row = session.get(Prediction, pid)
            assert row is not None
            row.top_score = score
            row.scores = {"stays": score, "churns": round(1 - score, 2)}
    return ids[:6]


def _labeling(at: AppTest) -> AppTest:
    return at.switch_page("pages/labeling.py").run()


def _labels(engine: Engine) -> dict[str, tuple[str, str]]:
    with session_scope(engine) as session:
        return {pid: (label, who) for pid, label, who in session.execute(
            select(Feedback.prediction_id, Feedback.label, Feedback.labeler))}


def _shown(at: AppTest) -> str:
    """The prediction id the one-at-a-time view shows."""
    (line,) = [m.value for m in at.markdown if m.value.startswith("Prediction ")]
    return line.removeprefix("Prediction ").split(" · ")[0]


def test_a_labeler_lands_on_the_queue_least_confident_first(
    app: Callable[..., AppTest], queue: list[str]
) -> None:
    at = app(as_role=Role.LABELER)
    assert not at.exception
    assert _shown(at) == queue[3]  # top score 0.51
    assert [(b.label, b.proto.shortcut) for b in at.button][:4] == [
        ("stays", "1"), ("churns", "2"), ("Skip", "s"), ("Can't tell", "u")]
    progress = next(m.value for m in at.markdown if m.value.startswith("**Today**"))
    assert "**6** awaiting" in progress


def test_a_class_button_saves_and_the_next_item_appears(
    app: Callable[..., AppTest], engine: Engine, queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.LABELER))
    at.button(key="labeling-class-btn-1").click().run()
    assert not at.exception
    assert _labels(engine)[queue[3]] == ("churns", LABELER)
    assert _shown(at) == queue[1]  # the next least confident (0.55)
    assert any("1 label saved" in s.value for s in at.success)
    progress = next(m.value for m in at.markdown if m.value.startswith("**Today**"))
    assert "1 by you" in progress
    assert "**5** awaiting" in progress


def test_newest_first_and_skip_and_cant_tell(
    app: Callable[..., AppTest], engine: Engine, queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.LABELER))
    at.selectbox(key="labeling-order").set_value("newest").run()
    assert _shown(at) == queue[0]
    at.button(key="labeling-skip").click().run()
    assert _shown(at) == queue[1]
    at.button(key="labeling-unsure").click().run()
    assert not at.exception
    assert _shown(at) == queue[2]
    assert _labels(engine).get(queue[1]) is None  # "can't tell" stores no label
    with session_scope(engine) as session:
        actions = session.scalars(select(AuditLog.action).where(
            AuditLog.object_id == queue[1])).all()
    assert actions == ["label_unsure"]
    # "Can't tell" lasts beyond this sitting; skipping does not.
    fresh = _labeling(app(as_role=Role.LABELER))
    fresh.selectbox(key="labeling-order").set_value("newest").run()
    assert _shown(fresh) == queue[0]
    fresh.button(key="labeling-skip").click().run()
    assert _shown(fresh) == queue[2]


def test_the_table_saves_only_the_edited_rows_in_one_go(
    app: Callable[..., AppTest], engine: Engine, queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.LABELER))
    at.segmented_control(key="labeling-mode").set_value("Table").run()
    assert not at.exception
    # AppTest cannot type into a data editor: seed its edits as the editor's callback does.
    at.session_state["labeling-edits"] = {queue[0]: "churns", queue[4]: "stays"}
    at.run()
    save = at.button(key="labeling-save")
    assert save.label == "Save 2 labels"
    save.click().run()
    assert not at.exception
    labels = _labels(engine)
    assert labels[queue[0]] == ("churns", LABELER)
    assert labels[queue[4]] == ("stays", LABELER)
    assert len(labels) == 4  # the two saved plus the two labelled before; nothing else
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(FeedbackHistory)) == 2
    assert any("2 labels saved" in s.value for s in at.success)
    assert at.button(key="labeling-save").label == "Save labels"


def test_a_conflict_shows_the_stored_label_and_who_set_it_then_keep_or_replace(
    app: Callable[..., AppTest], engine: Engine, queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.LABELER))
    at.segmented_control(key="labeling-mode").set_value("Table").run()
    # Someone else labels queue[0] while this labeler is looking at the table.
    save_labels(engine=engine, actor=SYSTEM, edits=[LabelEdit(queue[0], "stays", None)])
    at.session_state["labeling-edits"] = {queue[0]: "churns", queue[1]: "churns"}
    at.run()
    at.button(key="labeling-save").click().run()
    assert not at.exception
    assert _labels(engine)[queue[0]] == ("stays", "system")
    assert _labels(engine)[queue[1]] == ("churns", LABELER)
    assert any("1 of your labels were not saved" in w.value for w in at.warning)
    (choice,) = [r for r in at.radio if r.key == f"labeling-conflict-{queue[0]}"]
    assert "stored 'stays' by system" in choice.label
    choice.set_value(True).run()
    at.button(key="labeling-apply-conflicts").click().run()
    assert not at.exception
    assert _labels(engine)[queue[0]] == ("churns", LABELER)
    with session_scope(engine) as session:
        resolutions = session.scalars(select(FeedbackHistory.resolution).where(
            FeedbackHistory.prediction_id == queue[0]).order_by(FeedbackHistory.id)).all()
    # Replaced knowingly: the labeler saw the stored revision before choosing.
    assert resolutions == ["new", "replaced"]


def test_an_operator_reads_the_queue_but_cannot_label(
    app: Callable[..., AppTest], queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.OPERATOR))
    assert not at.exception
    assert any("can read the queue but not label" in i.value for i in at.info)
    assert at.button(key="labeling-class-btn-0").disabled


def test_an_empty_queue_says_why(app: Callable[..., AppTest], engine: Engine) -> None:
    make_model(engine, name="churn")
    at = _labeling(app(as_role=Role.LABELER))
    assert not at.exception
    assert any("Nothing awaits a label in this filter" in s.value for s in at.success)


def test_disagreement_order_shows_where_production_and_candidate_differ(
    app: Callable[..., AppTest], engine: Engine, queue: list[str]
) -> None:
    at = _labeling(app(as_role=Role.LABELER))
    at.selectbox(key="labeling-order").set_value("disagreement").run()
    assert any("no candidate version" in c.value for c in at.caption)
    assert _shown(at) == queue[3]  # least confident first instead
    with session_scope(engine, write=True) as session:
        model = registry.get_model(session=session, name="churn")
        candidate = registry.add_version(session=session, model_id=model.id,
                                         artifact_path="/nonexistent/churn-v2.pkl",
                                         artifact_sha256="1" * 64, created_by="test")
        for pid, answer in [(queue[2], "churns"), (queue[4], "stays"), (queue[5], "churns")]:
            made = session.get(Prediction, pid)
            assert made is not None
            session.add(ShadowPrediction(
                prediction_id=pid, version_id=candidate.id, predicted_at=made.ts,
                predicted_class=answer, top_score=0.7,
                scores={answer: 0.7, "stays" if answer == "churns" else "churns": 0.3}))
    at.run()
    assert not at.exception
    # Production said "stays" everywhere: the candidate disagrees on queue[2] and queue[5],
    # newest first.
    assert _shown(at) == queue[2]
    at.button(key="labeling-skip").click().run()
    assert _shown(at) == queue[5]
    at.button(key="labeling-skip").click().run()
    assert any("agree on every unlabelled prediction" in c.value for c in at.caption)
