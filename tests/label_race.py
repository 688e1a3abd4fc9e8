"""Sixteen labelers submitting every one of 100 items twice, in parallel: the scenario the
labeling service must survive on every database it supports (``tests/db`` runs it on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from db.models import AuditLog, Feedback, FeedbackHistory
from db.session import session_scope
from services.auth import Principal, Role
from services.labels import LabelEdit, SaveResult, save_labels
from tests.factories import log_predictions, make_model

__all__ = ["assert_parallel_labelers_keep_one_label_each"]

WORKERS = 16
ITEMS = 100


def assert_parallel_labelers_keep_one_label_each(engine: Engine) -> None:
    """Exactly one current label per item, no lost write, no unhandled error, and one
    history row and audit entry per stored label; every conflict names the stored label."""
    model_id, version_id = make_model(engine)
    items = log_predictions(engine, model_id=model_id, version_id=version_id,
                            rows=[(datetime(2026, 11, 1, 12, tzinfo=UTC), "stays", None)]
                            * ITEMS)
    rng = random.Random(7)
    # Every item is submitted twice, by two different labelers, who both saw no label.
    batches: list[list[LabelEdit]] = [[] for _ in range(WORKERS)]
    for i, pid in enumerate(items):
        first = i % WORKERS
        for worker in (first, (first + 1 + i % (WORKERS - 1)) % WORKERS):
            batches[worker].append(LabelEdit(pid, rng.choice(["stays", "churns"]), None))
    results: list[SaveResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(WORKERS)

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

    threads = [threading.Thread(target=labeler, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.saved for r in results) == ITEMS
    conflicts = [c for r in results for c in r.conflicts]
    assert sum(r.unchanged for r in results) + len(conflicts) == ITEMS
    assert conflicts  # the seeded labels disagree on some items
    with session_scope(engine) as session:
        feedback = session.execute(select(Feedback.prediction_id, Feedback.label,
                                          Feedback.labeler, Feedback.revision)).all()
        history = session.execute(select(FeedbackHistory.prediction_id,
                                         FeedbackHistory.new_label, FeedbackHistory.new_labeler,
                                         FeedbackHistory.resolution)).all()
        audits = session.scalar(select(func.count()).select_from(AuditLog))
    assert sorted(pid for pid, *_ in feedback) == sorted(items)
    assert all(rev == 1 for *_, rev in feedback)
    current = {pid: (label, labeler) for pid, label, labeler, _ in feedback}
    assert Counter(h[0] for h in history) == Counter(items)
    assert all(current[pid] == (label, labeler) and resolution == "new"
               for pid, label, labeler, resolution in history)
    assert audits == ITEMS
    for c in conflicts:
        assert (c.stored_label, c.stored_by) == current[c.prediction_id]
        assert c.your_label != c.stored_label
