"""Adaptive micro-batching: concurrent requests for one model version scored in one call.

A scikit-learn pipeline's ``predict_proba`` costs about the same for 1 row as for 64 (building
the DataFrame and walking the steps is most of it), so scoring each request alone wastes the
model. The :class:`Batcher` keeps one lane per loaded model version. A request's validated
records join its lane and the request awaits a future; the lane's collector waits at most
``wait_seconds`` for more (less when ``max_rows`` rows are already waiting), then scores what
it has in one :func:`~services.registry.scoring.score_records` call on a worker thread, so
the event loop keeps accepting requests meanwhile, and hands each request its own rows.
While a batch is scored the next one gathers, so the batches grow with the load.

When the combined call fails, the batch's requests are scored one by one, so only a request
whose own records the model cannot score fails (each gets its own exception).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from services.registry.loading import LoadedModel
from services.registry.scoring import ScoredRecord, score_records

__all__ = ["Batcher", "score_each"]

Schema = Sequence[Mapping[str, Any]]
Records = Sequence[Mapping[str, Any]]
#: The outcome of one request: its answers, or what scoring it raised.
Outcome = list[ScoredRecord] | BaseException


@dataclass
class _Waiting:
    records: Records
    future: asyncio.Future[list[ScoredRecord]]


@dataclass
class _Lane:
    """The requests waiting for one loaded model version, and the task collecting them."""

    model: LoadedModel
    schema: Schema
    waiting: list[_Waiting] = field(default_factory=list)
    rows: int = 0
    full: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Batcher:
    """Scores requests together, per model version, off the event loop.

    Args:
        wait_seconds: longest a request waits for others to join its batch.
        max_rows: a batch is scored as soon as it holds this many rows; a request with
            more rows than this is scored on its own at once.
        enabled: ``False`` scores every request alone (still on a worker thread).
    """

    def __init__(self, *, wait_seconds: float, max_rows: int, enabled: bool = True) -> None:
        self.wait_seconds = wait_seconds
        self.max_rows = max_rows
        self.enabled = enabled
        # Keyed by the LoadedModel's id; the lane holds the model, so the id is not reused
        # while the lane exists (it is removed when its last batch is scored).
        self._lanes: dict[int, _Lane] = {}
        #: Batches scored and rows in them, for tests (counted on the worker threads).
        self.batches = 0
        self.rows = 0
        self._count_lock = threading.Lock()

    async def score(self, *, model: LoadedModel, schema: Schema, records: Records
                    ) -> list[ScoredRecord]:
        """``records``' answers, in order, scored alone or with other requests' records.

        Raises:
            Exception: whatever the pipeline raised scoring these records on their own.
        """
        if not self.enabled or len(records) >= self.max_rows:
            return await run_in_threadpool(self._alone, model, schema, records)
        lane = self._lanes.get(id(model))
        if lane is None:
            lane = self._lanes[id(model)] = _Lane(model=model, schema=schema)
        future: asyncio.Future[list[ScoredRecord]] = (
            asyncio.get_running_loop().create_future())
        lane.waiting.append(_Waiting(records=records, future=future))
        lane.rows += len(records)
        if lane.rows >= self.max_rows:
            lane.full.set()
        if lane.task is None:
            lane.task = asyncio.create_task(self._collect(lane))
        return await future

    def _alone(self, model: LoadedModel, schema: Schema, records: Records
               ) -> list[ScoredRecord]:
        self._count(len(records))
        return score_records(model=model, schema=schema, records=records)

    def _count(self, rows: int) -> None:
        with self._count_lock:
            self.batches += 1
            self.rows += rows

    async def _collect(self, lane: _Lane) -> None:
        """Score the lane's batches until nobody waits, then retire the lane."""
        try:
            while lane.waiting:
                if lane.rows < self.max_rows:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lane.full.wait(), self.wait_seconds)
                batch = self._take(lane)
                outcomes: list[Outcome]
                try:
                    outcomes = await run_in_threadpool(
                        self._score_batch, lane.model, lane.schema, [w.records for w in batch])
                except Exception as exc:  # a fault of ours: every caller gets it
                    outcomes = [exc] * len(batch)
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    _settle(waiting.future, outcome)
        finally:
            # No await between the last check of ``waiting`` and here: nothing joined since.
            self._lanes.pop(id(lane.model), None)
            for waiting in lane.waiting:  # only when cancelled (the loop is closing)
                waiting.future.cancel()

    def _take(self, lane: _Lane) -> list[_Waiting]:
        """The waiting requests that fit in one batch (at least one), in arrival order."""
        batch: list[_Waiting] = []
        rows = 0
        while lane.waiting and (not batch or rows + len(lane.waiting[0].records)
                                <= self.max_rows):
            waiting = lane.waiting.pop(0)
            rows += len(waiting.records)
            batch.append(waiting)
        lane.rows -= rows
        if lane.rows < self.max_rows:
            lane.full.clear()
        return batch

    def _score_batch(self, model: LoadedModel, schema: Schema, requests: list[Records]
                     ) -> list[Outcome]:
        """Each request's outcome: one call for all, or one call each when that fails."""
        flat = [record for records in requests for record in records]
        self._count(len(flat))
        try:
            scored = score_records(model=model, schema=schema, records=flat)
        except Exception as exc:  # the model refused the batch: find whose records it refuses
            if len(requests) == 1:
                return [exc]
            return score_each(model, schema, requests)
        outcomes: list[Outcome] = []
        start = 0
        for records in requests:
            outcomes.append(scored[start:start + len(records)])
            start += len(records)
        return outcomes


def score_each(model: LoadedModel, schema: Schema, requests: list[Records]) -> list[Outcome]:
    """Every request scored on its own: its answers, or the exception its records raised."""
    outcomes: list[Outcome] = []
    for records in requests:
        try:
            outcomes.append(score_records(model=model, schema=schema, records=records))
        except Exception as exc:  # handed to that request's caller
            outcomes.append(exc)
    return outcomes


def _settle(future: asyncio.Future[list[ScoredRecord]], outcome: Outcome) -> None:
    """Give a waiting request its outcome, unless it has gone (its client disconnected)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
