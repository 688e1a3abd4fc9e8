"""The batcher: answers equal scoring one by one, a model error fails only its own request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.registry.loading import LoadedModel
from services.registry.scoring import ScoredRecord, score_records
from services.serving.batcher import Batcher
from tests.serving_models import CLASSES, SCHEMA, train_pipeline

RECORDS = st.fixed_dictionaries({
    "tenure": st.floats(min_value=0, max_value=1e6, allow_nan=False),
    "spend": st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    "plan": st.sampled_from(["basic", "plus", "pro", "unseen"]),
})


def _model(pipeline: Any) -> LoadedModel:
    return LoadedModel(version=1, version_id=1, artifact_sha256="0" * 64, classes=CLASSES,
                       pipeline=pipeline)


class _RefusesTenure13:
    """A pipeline (the boundary) that raises on any frame holding a tenure of 13."""

    def __init__(self) -> None:
        self.inner = train_pipeline(seed=1)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        if (frame["tenure"] == 13.0).any():
            raise ArithmeticError("tenure 13 is unlucky")
        return np.asarray(self.inner.predict_proba(frame))


async def _score_all(batcher: Batcher, model: LoadedModel, requests: Sequence[list[Any]]
                     ) -> list[list[ScoredRecord] | BaseException]:
    return list(await asyncio.gather(
        *(batcher.score(model=model, schema=SCHEMA, records=records) for records in requests),
        return_exceptions=True))


def _assert_same(batched: list[ScoredRecord], alone: list[ScoredRecord]) -> None:
    assert len(batched) == len(alone)
    for got, want in zip(batched, alone, strict=True):
        assert got.predicted_class == want.predicted_class
        assert list(got.probabilities) == list(want.probabilities)
        for label in want.probabilities:
            assert abs(got.probabilities[label] - want.probabilities[label]) <= 1e-12
        assert abs(got.top_score - want.top_score) <= 1e-12


@settings(max_examples=40, deadline=None)
@given(requests=st.lists(st.lists(RECORDS, min_size=1, max_size=3), min_size=1, max_size=12))
def test_batched_answers_equal_scoring_each_request_alone(requests: list[list[Any]]) -> None:
    model = _model(train_pipeline(seed=1))
    rows = sum(len(r) for r in requests)
    # Every request is waiting before the first batch is taken; the batch is scored when
    # it holds them all, never after a timeout (a lone request is scored on its own).
    batcher = Batcher(wait_seconds=60.0, max_rows=rows)

    outcomes = asyncio.run(_score_all(batcher, model, requests))

    for records, outcome in zip(requests, outcomes, strict=True):
        assert isinstance(outcome, list)
        _assert_same(outcome, score_records(model=model, schema=SCHEMA, records=records))
    assert (batcher.batches, batcher.rows) == (1, rows)


def test_a_full_batch_is_scored_at_once_and_the_rest_form_the_next() -> None:
    model = _model(train_pipeline(seed=1))
    requests = [[{"tenure": float(i), "spend": 10.0, "plan": "pro"}] for i in range(10)]
    batcher = Batcher(wait_seconds=60.0, max_rows=5)

    outcomes = asyncio.run(_score_all(batcher, model, requests))

    assert all(isinstance(o, list) and len(o) == 1 for o in outcomes)
    assert (batcher.batches, batcher.rows) == (2, 10)


def test_a_model_error_fails_only_the_request_whose_record_raised() -> None:
    model = _model(_RefusesTenure13())
    requests = [[{"tenure": float(t), "spend": 10.0, "plan": "basic"}] for t in (1, 13, 30)]
    requests.append([{"tenure": 2.0, "spend": 5.0, "plan": "plus"},
                     {"tenure": 4.0, "spend": 6.0, "plan": "pro"}])
    batcher = Batcher(wait_seconds=60.0, max_rows=5)

    outcomes = asyncio.run(_score_all(batcher, model, requests))

    assert isinstance(outcomes[1], ArithmeticError)
    plain = _model(train_pipeline(seed=1))
    for index in (0, 2, 3):
        got = outcomes[index]
        assert isinstance(got, list)
        _assert_same(got, score_records(model=plain, schema=SCHEMA, records=requests[index]))


def test_a_request_alone_in_its_batch_gets_the_model_error() -> None:
    model = _model(_RefusesTenure13())
    batcher = Batcher(wait_seconds=0.0, max_rows=64)

    with pytest.raises(ArithmeticError, match="unlucky"):
        asyncio.run(batcher.score(model=model, schema=SCHEMA,
                                  records=[{"tenure": 13.0, "spend": 1.0, "plan": "pro"}]))


def test_a_request_of_max_rows_or_more_is_scored_on_its_own_and_off_means_always_alone(
        ) -> None:
    model = _model(train_pipeline(seed=1))
    records = [{"tenure": float(i), "spend": 1.0, "plan": "plus"} for i in range(6)]
    # No wait: the two requests are two batches whatever the clock does.
    for batcher in (Batcher(wait_seconds=0.0, max_rows=6),
                    Batcher(wait_seconds=0.0, max_rows=64, enabled=False)):
        outcomes = asyncio.run(_score_all(batcher, model, [records, records[:2]]))
        assert (batcher.batches, batcher.rows) == (2, 8)
        assert isinstance(outcomes[1], list)
        _assert_same(outcomes[1], score_records(model=model, schema=SCHEMA, records=records[:2]))
