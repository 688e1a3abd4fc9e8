"""Training a candidate: the newest rows are held out, presets, cancel, progress, the
reference sample and the fingerprint (no store: rows drawn with the demo's generator)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.retrain.data import TrainingDataError
from services.retrain.training import TrainingCancelled, split_holdout, train
from tests.retrain_rows import CLASSES, SCHEMA, base_pipeline, churn_rows

_ROWS = churn_rows(400, seed=99)


def _train(rows: Any, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"rows": rows, "schema": SCHEMA, "classes": CLASSES,
                            "base_pipeline": base_pipeline(), "preset": "same", "seed": 7}
    args.update(kwargs)
    return train(**args)


def test_the_newest_fifth_is_held_out_and_never_trained_on() -> None:
    rows = churn_rows(1_000, seed=1)
    # The newest fifth follows the opposite rule: a model trained on it would score there.
    flipped = rows.labels.copy()
    flipped[800:] = np.where(flipped[800:] == "churned", "active", "churned")
    rows = type(rows)(**{**rows.__dict__, "labels": flipped})
    outcome = _train(rows)
    assert outcome.holdout_ids == tuple(sorted(rows.ids[800:]))
    assert outcome.training_ids == tuple(sorted(rows.ids[:800]))
    assert outcome.fingerprint["holdout_from"] == {"ts": rows.ts[800].isoformat(),
                                                   "id": rows.ids[800]}
    assert outcome.holdout_metrics["holdout_rows"] == 200
    # Trained on the older rule only, so it is mostly wrong on the flipped newest rows,
    # while cross-validation on the training part finds it mostly right.
    assert outcome.holdout_metrics["accuracy"] < 0.4
    assert outcome.holdout_metrics["cv_accuracy"] > 0.6
    assert outcome.holdout_metrics["cv_folds"] == 5


def test_split_holdout_keeps_time_order_and_refuses_a_bad_fraction() -> None:
    rows = churn_rows(11)
    train_part, holdout = split_holdout(rows, 0.2)
    assert (len(train_part), len(holdout)) == (8, 3)
    assert max(train_part.ts) < min(holdout.ts)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_holdout(rows, 1.0)


def test_cancel_stops_between_fits_and_reports_no_evaluation() -> None:
    stages: list[str] = []
    polls = 0

    def should_stop() -> bool:
        nonlocal polls
        polls += 1
        return polls > 3

    with pytest.raises(TrainingCancelled) as caught:
        _train(churn_rows(600, seed=2), preset="search", should_stop=should_stop,
               progress=lambda stage, percent, message: stages.append(stage))
    assert "cancelled" in str(caught.value)
    assert stages == ["training", "search fold 1 of 50", "search fold 2 of 50",
                      "search fold 3 of 50"]


def test_progress_stages_come_in_order_and_percent_never_falls() -> None:
    seen: list[tuple[str, float]] = []
    outcome = _train(churn_rows(600, seed=3), preset="search", folds=3,
                     progress=lambda stage, percent, message: seen.append((stage, percent)))
    fits = outcome.search["candidates"] * 3
    assert [s for s, _ in seen] == (["training"]
                                    + [f"search fold {k} of {fits}" for k in range(1, fits + 1)]
                                    + ["evaluating", "evaluating"])
    percents = [p for _, p in seen]
    assert percents == sorted(percents)
    assert percents[0] > 0
    assert percents[-1] == 100.0


def test_the_same_preset_refits_the_production_parameters() -> None:
    base = base_pipeline()
    base.set_params(classifier__C=0.5)
    outcome = _train(churn_rows(500, seed=4), base_pipeline=base)
    assert outcome.params["classifier__C"] == 0.5
    assert outcome.params["classifier__random_state"] == 7
    assert outcome.search is None
    assert outcome.fingerprint["preset"] == "same"
    # The production pipeline itself is left fitted as it was.
    assert base.named_steps["classifier"].coef_.shape[0] == 1


def test_the_reference_sample_is_seeded_training_records() -> None:
    rows = churn_rows(7_000, seed=5)
    a = _train(rows)
    b = _train(rows)
    assert len(a.reference_sample) == 5_000
    assert a.reference_sample == b.reference_sample
    assert set(a.reference_sample[0]) == {s["name"] for s in SCHEMA}
    assert isinstance(a.reference_sample[0]["tenure_months"], float)
    assert isinstance(a.reference_sample[0]["contract_type"], str)
    training = {tuple(r.values()) for r in
                rows.take(0, 5_600).features.astype(object).to_dict(orient="records")}
    held_out = {tuple(r.values()) for r in
                rows.take(5_600, 7_000).features.astype(object).to_dict(orient="records")}
    drawn = {tuple(r.values()) for r in a.reference_sample}
    assert drawn <= training
    assert not drawn & (held_out - training)


def test_refusals_say_what_is_wrong() -> None:
    rows = churn_rows(300, seed=6)
    with pytest.raises(ValueError, match="preset must be one of same, search"):
        _train(rows, preset="fast")
    only_active = type(rows)(**{**rows.__dict__,
                                "labels": np.asarray(["active"] * 299 + ["churned"])})
    with pytest.raises(TrainingDataError, match="fewer than 2 labelled rows of \\['churned'\\]"):
        _train(only_active)
    odd = type(rows)(**{**rows.__dict__, "labels": np.where(rows.labels == "active",
                                                            "maybe", rows.labels)})
    with pytest.raises(TrainingDataError, match="'maybe'"):
        _train(odd)


def test_training_holds_blas_and_openmp_to_one_thread() -> None:
    from threadpoolctl import threadpool_info

    during: list[int] = []

    def progress(stage: str, percent: float, message: str) -> None:
        if stage == "evaluating" and percent < 100.0:  # while fitting and scoring
            during.extend(pool["num_threads"] for pool in threadpool_info())

    _train(churn_rows(400, seed=8), progress=progress)
    assert during
    assert set(during) == {1}


@given(n=st.integers(min_value=2, max_value=400),
       fraction=st.floats(min_value=0.01, max_value=0.99))
@settings(max_examples=60, deadline=None)
def test_the_holdout_is_always_the_newest_rows_and_never_empty(n: int, fraction: float) -> None:
    rows = _ROWS.take(0, n)
    train_part, holdout = split_holdout(rows, fraction)
    assert len(train_part) + len(holdout) == n
    assert len(holdout) == max(1, math.ceil(n * fraction))
    assert train_part.ids + holdout.ids == rows.ids
    if len(train_part):
        assert max(train_part.ts) < min(holdout.ts)
