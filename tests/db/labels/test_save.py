"""The labeling service: no label lost, duplicated or silently overwritten."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import DatabaseError

from db.models import AuditLog, FeedbackHistory, Prediction
from db.repositories import labels as labels_repo
from db.session import make_engine, session_scope
from services.access import PermissionDenied, Principal, Role
from services.labels.save import (
    Conflict,
    LabelEdit,
    LabelError,
    LabelsNotSavedError,
    SaveResult,
    keep_labels,
    label_history,
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


def _audit(engine: Engine) -> list[tuple[str, str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        return [(a.actor, a.action, a.object_id, dict(a.details))
                for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_a_new_label_is_inserted_with_history_and_audit(engine: Engine) -> None:
    p1, p2, _ = _predictions(engine)
    result = save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None),
                                                          LabelEdit(p2, "stays", None)])
    assert (result.saved, result.unchanged, result.conflicts) == (2, 0, [])
    feedback, history, _ = label_state(engine)
    assert sorted(feedback) == sorted([(p1, "churns", "ann", 1), (p2, "stays", "ann", 1)])
    assert history == [(p1, None, "churns", None, "ann", 1, "new"),
                       (p2, None, "stays", None, "ann", 1, "new")]
    assert [(a, act, obj, d["old"], d["new"], d["revision"])
            for a, act, obj, d in _audit(engine)] == [
        ("ann", "label", p1, None, "churns", 1), ("ann", "label", p2, None, "stays", 1)]


@pytest.mark.parametrize("statement", [
    update(FeedbackHistory).values(new_labeler="someone else"),
    delete(FeedbackHistory),
    delete(Prediction),  # the history would go with it (ON DELETE CASCADE)
], ids=["update", "delete", "delete-prediction"])
def test_the_database_refuses_to_edit_or_delete_label_history(
        engine: Engine, statement: Any) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", 1)])
    before = label_state(engine)
    with pytest.raises(DatabaseError, match="feedback_history is append-only"), \
            session_scope(engine, write=True) as session:
        session.execute(statement)
    assert label_state(engine) == before
    assert len(before[1]) == 2


def test_the_same_label_again_writes_nothing(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    before = label_state(engine)
    # Equal labels agree whatever revision the labeler saw.
    for expected in (1, None):
        result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "churns", expected)])
        assert (result.saved, result.unchanged, result.conflicts) == (0, 1, [])
    assert label_state(engine) == before


def test_a_label_at_the_revision_seen_is_replaced(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", 1)])
    assert (result.saved, result.conflicts) == (1, [])
    feedback, history, audits = label_state(engine)
    assert feedback == [(p1, "stays", "bob", 2)]
    assert history[-1] == (p1, "churns", "stays", "ann", "bob", 2, "replaced")
    assert audits == 2
    assert [h.resolution for h in label_history(engine=engine, actor=ANN, prediction_id=p1)] \
        == ["new", "replaced"]


def test_a_label_changed_meanwhile_is_a_conflict_and_not_written(engine: Engine) -> None:
    p1, p2, _ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    before = label_state(engine)
    # Bob saw no label on p1 (he loaded the table before Ann saved).
    result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", None),
                                                          LabelEdit(p2, "stays", None)])
    assert result.saved == 1
    [conflict] = result.conflicts
    assert (conflict.prediction_id, conflict.stored_label, conflict.stored_by,
            conflict.stored_revision, conflict.your_label) == (p1, "churns", "ann", 1, "stays")
    assert conflict.stored_at.tzinfo is not None
    feedback, history, _ = label_state(engine)
    assert (p1, "churns", "ann", 1) in feedback
    assert [h for h in history if h[0] == p1] == [h for h in before[1] if h[0] == p1]

    # Bob chooses to replace it: saving again with the revision he now saw is a replace.
    again = save_labels(engine=engine, actor=BOB,
                        edits=[LabelEdit(p1, "stays", conflict.stored_revision)])
    assert (again.saved, again.conflicts) == (1, [])
    assert (p1, "stays", "bob", 2) in label_state(engine)[0]


def test_replace_conflicts_overwrites_and_says_so(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", None)],
                         replace_conflicts=True)
    assert (result.saved, result.conflicts) == (1, [])
    feedback, history, _ = label_state(engine)
    assert feedback == [(p1, "stays", "bob", 2)]
    assert history[-1] == (p1, "churns", "stays", "ann", "bob", 2, "replaced_conflict")
    assert _audit(engine)[-1][3]["resolution"] == "replaced_conflict"


def test_keeping_a_conflict_is_recorded_without_changing_the_label(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    [conflict] = save_labels(engine=engine, actor=BOB,
                             edits=[LabelEdit(p1, "stays", None)]).conflicts
    assert keep_labels(engine=engine, actor=BOB, conflicts=[conflict]) == 1
    feedback, history, _ = label_state(engine)
    assert feedback == [(p1, "churns", "ann", 1)]
    assert history[-1] == (p1, "churns", "churns", "ann", "bob", 1, "kept")
    assert _audit(engine)[-1][3]["not_used"] == "stays"
    # A label that changed again after the conflict was shown is not "kept" by Bob.
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "stays", 1)])
    assert keep_labels(engine=engine, actor=BOB, conflicts=[conflict]) == 0


@pytest.mark.parametrize(("edits", "message"), [
    (lambda ids: [LabelEdit(ids[0], "churns", None), LabelEdit("nope", "stays", None)],
     "no such prediction: 'nope'"),
    (lambda ids: [LabelEdit(ids[0], "churns", None), LabelEdit(ids[1], "maybe", None)],
     "'maybe' not in stays, churns"),
    (lambda ids: [LabelEdit(ids[0], "churns", None), LabelEdit(ids[1], "stays", None),
                  LabelEdit(ids[0], "stays", None)],
     "repeated: "),
    (lambda ids: [LabelEdit(ids[0], "churns", 0)], "invalid expected revision"),
], ids=["unknown-id", "not-a-class", "duplicate-id", "bad-revision"])
def test_invalid_edits_name_the_rows_and_write_nothing(
    engine: Engine, edits: Any, message: str
) -> None:
    ids = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(ids[2], "stays", None)])
    before = label_state(engine)
    with pytest.raises(LabelError, match=message) as error:
        save_labels(engine=engine, actor=BOB, edits=edits(ids))
    if "repeated" in message:
        assert repr(ids[0]) in str(error.value)
    assert label_state(engine) == before


def test_labels_of_another_model_are_refused(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    model_id, version_id = make_model(engine, name="fraud", classes=("ok", "fraud"))
    [f1] = log_predictions(engine, model_id=model_id, version_id=version_id,
                           rows=[(T0, "ok", None)])
    with pytest.raises(LabelError, match=repr(f1)):
        save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None),
                                                     LabelEdit(f1, "churns", None)])
    assert label_state(engine)[0] == []


def test_an_unknown_source_is_refused(engine: Engine) -> None:
    p1, *_ = _predictions(engine)
    with pytest.raises(LabelError, match="unknown label source"):
        save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)],
                    source="email")


def test_the_role_is_checked_before_anything_else(engine: Engine) -> None:
    analyst = Principal(username="al", role=Role.ANALYST)
    with pytest.raises(PermissionDenied, match="al"):
        save_labels(engine=engine, actor=analyst, edits=[LabelEdit("nope", "x", None)])
    with pytest.raises(PermissionDenied):
        label_history(engine=engine, actor=analyst, prediction_id="nope")


def test_a_lost_insert_race_becomes_a_conflict(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique constraint, not the read, decides who labeled first (PostgreSQL races)."""
    p1, p2, _ = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p1, "churns", None)])
    real = labels_repo.current_labels
    calls = 0

    def stale_first_read(session: Any, ids: Any) -> Any:
        nonlocal calls
        calls += 1
        # The first read as if made before Ann's commit.
        return {} if calls == 1 else real(session=session, ids=ids)

    monkeypatch.setattr(labels_repo, "current_labels", stale_first_read)
    result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(p1, "stays", None),
                                                          LabelEdit(p2, "stays", None)])
    assert result.saved == 1
    assert [(c.prediction_id, c.stored_by) for c in result.conflicts] == [(p1, "ann")]
    feedback, history, audits = label_state(engine)
    assert (p1, "churns", "ann", 1) in feedback
    assert (p2, "stays", "bob", 1) in feedback
    assert len(history) == audits == 2


@pytest.mark.parametrize("replace_conflicts", [False, True])
def test_a_mixed_batch_writes_exactly_one_history_row_and_audit_entry_per_change(
    engine: Engine, replace_conflicts: bool
) -> None:
    same, seen, moved, fresh, twice = _predictions(engine, n=5)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(same, "churns", None),
                                                 LabelEdit(seen, "churns", None),
                                                 LabelEdit(moved, "churns", None),
                                                 LabelEdit(twice, "churns", None)])
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(twice, "stays", 1)])
    _, history_before, audits_before = label_state(engine)
    audit_before = _audit(engine)
    edits = [LabelEdit(fresh, "stays", None),      # new
             LabelEdit(same, "churns", None),      # unchanged (equal, whatever was seen)
             LabelEdit(seen, "stays", 1),          # replaced: the revision seen is stored
             LabelEdit(moved, "stays", None),      # conflict: Bob saw no label
             LabelEdit(twice, "churns", 1)]        # conflict: stored is revision 2 now
    result = save_labels(engine=engine, actor=BOB, edits=edits,
                         replace_conflicts=replace_conflicts)

    changed = [fresh, seen, moved, twice] if replace_conflicts else [fresh, seen]
    assert (result.saved, result.unchanged, result.replaced) == (
        len(changed), 1, len(changed) - 1)
    assert [c.prediction_id for c in result.conflicts] == (
        [] if replace_conflicts else [moved, twice])
    feedback, history, audits = label_state(engine)
    new_history = history[len(history_before):]
    expected = [(fresh, None, "stays", None, "bob", 1, "new"),
                (seen, "churns", "stays", "ann", "bob", 2, "replaced")]
    if replace_conflicts:
        expected += [(moved, "churns", "stays", "ann", "bob", 2, "replaced_conflict"),
                     (twice, "stays", "churns", "ann", "bob", 3, "replaced_conflict")]
    assert new_history == expected  # in the order of the edits
    assert audits == audits_before + len(changed)
    details = _audit(engine)[len(audit_before):]
    common = {"source": "ui"}
    expected_audit = [
        ("bob", "label", fresh, {"old": None, "new": "stays", "old_labeler": None,
                                 "revision": 1, "resolution": "new", **common}),
        ("bob", "label", seen, {"old": "churns", "new": "stays", "old_labeler": "ann",
                                "revision": 2, "resolution": "replaced", **common}),
    ]
    if replace_conflicts:
        expected_audit += [
            ("bob", "label", moved, {"old": "churns", "new": "stays", "old_labeler": "ann",
                                     "revision": 2, "resolution": "replaced_conflict",
                                     "expected_revision": None, **common}),
            ("bob", "label", twice, {"old": "stays", "new": "churns", "old_labeler": "ann",
                                     "revision": 3, "resolution": "replaced_conflict",
                                     "expected_revision": 1, **common}),
        ]
    assert details == expected_audit
    current = {pid: (label, labeler, rev) for pid, label, labeler, rev in feedback}
    assert current[same] == ("churns", "ann", 1)
    assert current[fresh] == ("stays", "bob", 1)
    assert current[seen] == ("stays", "bob", 2)
    assert current[moved] == (("stays", "bob", 2) if replace_conflicts else ("churns", "ann", 1))
    assert current[twice] == (("churns", "bob", 3) if replace_conflicts else ("stays", "ann", 2))


def test_a_replacement_that_lost_a_race_becomes_a_conflict(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batched UPDATE whose row count falls short is rolled back and re-run edit by edit."""
    p1, p2, p3 = _predictions(engine)
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(pid, "churns", None)
                                                 for pid in (p1, p2, p3)])
    real = labels_repo.current_labels
    with session_scope(engine) as session:
        stale = real(session=session, ids=[p1, p2, p3])  # Bob's read: every label at revision 1
    # Ann changes p2 twice after Bob's read (on PostgreSQL a read takes no lock).
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p2, "stays", 1)])
    save_labels(engine=engine, actor=ANN, edits=[LabelEdit(p2, "churns", 2)])
    calls = 0

    def stale_first_read(session: Any, ids: Any) -> Any:
        nonlocal calls
        calls += 1
        return stale if calls == 1 else real(session=session, ids=ids)

    monkeypatch.setattr(labels_repo, "current_labels", stale_first_read)
    result = save_labels(engine=engine, actor=BOB, edits=[LabelEdit(pid, "stays", 1)
                                                          for pid in (p1, p2, p3)])
    assert (result.saved, result.unchanged) == (2, 0)
    [conflict] = result.conflicts
    assert (conflict.prediction_id, conflict.stored_label, conflict.stored_revision) == (
        p2, "churns", 3)
    feedback, history, audits = label_state(engine)
    assert sorted(feedback) == sorted([(p1, "stays", "bob", 2), (p2, "churns", "ann", 3),
                                       (p3, "stays", "bob", 2)])
    assert [(h[0], h[6]) for h in history[-2:]] == [(p1, "replaced"), (p3, "replaced")]
    assert len(history) == audits == 7


def test_parallel_labelers_never_duplicate_or_lose_a_label(engine: Engine) -> None:
    items = _predictions(engine, n=100)
    rng = random.Random(7)
    workers = 16
    # Every item is submitted twice, by two different labelers, who both saw no label.
    batches: list[list[LabelEdit]] = [[] for _ in range(workers)]
    for i, pid in enumerate(items):
        first = i % workers
        for worker in (first, (first + 1 + i % (workers - 1)) % workers):
            batches[worker].append(LabelEdit(pid, rng.choice(["stays", "churns"]), None))
    results: list[SaveResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def labeler(worker: int) -> None:
        actor = Principal(username=f"labeler-{worker}", role=Role.LABELER)
        start.wait()
        try:
            edits = batches[worker]
            for at in range(0, len(edits), 4):
                results.append(save_labels(engine=engine, actor=actor,
                                           edits=edits[at:at + 4]))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=labeler, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.saved for r in results) == 100
    conflicts = [c for r in results for c in r.conflicts]
    assert sum(r.unchanged for r in results) + len(conflicts) == 100
    assert conflicts  # the seeded labels disagree on some items
    feedback, history, audits = label_state(engine)
    assert sorted(pid for pid, *_ in feedback) == sorted(items)
    assert all(rev == 1 for *_, rev in feedback)
    current = {pid: (label, labeler) for pid, label, labeler, _ in feedback}
    assert Counter(h[0] for h in history) == Counter(items)
    assert all(current[h[0]] == (h[2], h[4]) and h[6] == "new" for h in history)
    assert audits == 100
    for c in conflicts:
        assert (c.stored_label, c.stored_by) == current[c.prediction_id]
        assert c.your_label != c.stored_label


def _hold_write_lock(path: str, seconds: float, locked: threading.Event) -> None:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _while_locked(engine: Engine, seconds: float, call: Any) -> Any:
    locked = threading.Event()
    path = engine.url.database
    assert path
    holder = threading.Thread(target=_hold_write_lock, args=(path, seconds, locked))
    holder.start()
    try:
        assert locked.wait(5)
        return call()
    finally:
        holder.join()


@pytest.mark.sqlite_only  # SQLite's file lock
def test_a_save_waits_for_another_writer(engine: Engine) -> None:
    ids = _predictions(engine)
    began = time.monotonic()
    result = _while_locked(engine, 1.0, lambda: save_labels(
        engine=engine, actor=ANN, edits=[LabelEdit(pid, "churns", None) for pid in ids]))
    assert result.saved == 3
    assert time.monotonic() - began >= 0.9


@pytest.mark.sqlite_only  # SQLite's file lock
def test_a_database_locked_beyond_the_busy_timeout_writes_nothing(engine: Engine) -> None:
    ids = _predictions(engine)
    before = label_state(engine)
    impatient = make_engine(engine.url.render_as_string(hide_password=False),
                            busy_timeout_ms=300)
    try:
        with pytest.raises(LabelsNotSavedError, match="database is busy; try again"):
            _while_locked(impatient, 1.0, lambda: save_labels(
                engine=impatient, actor=ANN,
                edits=[LabelEdit(pid, "churns", None) for pid in ids]))
    finally:
        impatient.dispose()
    assert label_state(engine) == before


def test_conflict_is_a_plain_value() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert Conflict("p", "a", "ann", at, 1, "b") == Conflict("p", "a", "ann", at, 1, "b")
