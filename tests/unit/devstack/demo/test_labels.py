"""The queue of late ground-truth labels."""

from __future__ import annotations

from devstack.demo.labels import LabelQueue


def test_labels_come_out_when_due_earliest_first() -> None:
    queue = LabelQueue()
    queue.add(prediction_id="b", label="x", due=20.0)
    queue.add(prediction_id="a", label="y", due=10.0)
    queue.add(prediction_id="c", label="z", due=30.0)
    assert queue.next_due() == 10.0
    assert queue.pop_due(5.0) == []
    assert [p.prediction_id for p in queue.pop_due(25.0)] == ["a", "b"]
    assert len(queue) == 1
    assert [p.prediction_id for p in queue.pop_due(100.0, limit=5)] == ["c"]
    assert queue.next_due() is None


def test_pop_due_respects_the_batch_limit() -> None:
    queue = LabelQueue()
    for i in range(10):
        queue.add(prediction_id=str(i), label="x", due=float(i))
    assert len(queue.pop_due(100.0, limit=4)) == 4
    assert len(queue) == 6


def test_retried_labels_come_back_later_and_are_dropped_when_too_old() -> None:
    queue = LabelQueue(retry_seconds=5.0, give_up_seconds=60.0)
    queue.add(prediction_id="p", label="x", due=100.0)
    (label,) = queue.pop_due(100.0)
    assert queue.retry([label], 101.0) == 0
    assert queue.pop_due(105.0) == []
    (again,) = queue.pop_due(106.0)
    assert again.first_due == 100.0
    assert again.due == 106.0
    assert queue.retry([again], 160.0) == 1
    assert len(queue) == 0
