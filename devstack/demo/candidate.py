"""The demo's candidate versions: retrained on the drifted data, shadow-scoring the last days.

The story: the drift episode of :func:`devstack.demo.timeline.drift_schedule` hurts the
production version; once it has settled, a version 2 is trained on data from the world as
the episode left it (from the end of its ramp) and registered as a candidate, and from
then on it answers every request in the shadow. The Model quality page then compares the
two on the same labelled predictions, and the labeling queue finds where they disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from devstack.demo.generator import FloatArray, Scenario
from devstack.demo.history import History
from devstack.demo.timeline import drift_schedule, to_datetimes
from devstack.demo.training import TrainedModel, train_scenario

__all__ = ["CandidatePlan", "candidate_plan", "shadow_rows", "train_candidate"]

#: Share of the history at its end that the candidate answers in the shadow (two days of
#: fourteen: enough labelled predictions to compare, at about a second of seeding).
SHADOW_SHARE = 2 / 14
#: Rows the candidate is trained on (fewer than version 1: a quick retrain).
CANDIDATE_TRAIN_ROWS = 10_000
_DECIMALS = 4  # as the seeded history stores its scores


@dataclass(frozen=True)
class CandidatePlan:
    """When the candidate's training data starts and ends, and when it starts shadowing.

    Attributes:
        train_start: the drift episode's ramp ends (the world has settled into its new
            state: a version trained from here no longer sees its inputs as drifted).
        train_end: training data ends; the candidate is registered and starts shadowing.
        end: end of the history.
    """

    train_start: datetime
    train_end: datetime
    end: datetime


def candidate_plan(*, start: datetime, end: datetime) -> CandidatePlan:
    """The candidate's timeline within the history ``[start, end)``."""
    schedule = drift_schedule(start=start, end=end)
    return CandidatePlan(train_start=schedule.ramp_end,
                         train_end=end - (end - start) * SHADOW_SHARE, end=end)


def train_candidate(
    scenario: Scenario, *, plan: CandidatePlan, start: datetime, rng: np.random.Generator
) -> TrainedModel:
    """Train on data drawn as the world was between ``plan.train_start`` and ``plan.train_end``.

    Each training row's drift intensity is the schedule's at a moment drawn uniformly from
    that span, so the candidate learns the drifted world the production version never saw.
    """
    schedule = drift_schedule(start=start, end=plan.end)
    moments = rng.uniform(plan.train_start.timestamp(), plan.train_end.timestamp(),
                          CANDIDATE_TRAIN_ROWS)
    drift: FloatArray = schedule.intensities(moments)
    return train_scenario(scenario, rng=rng, drift=drift, rows=CANDIDATE_TRAIN_ROWS)


def shadow_rows(
    history: History,
    *,
    pipeline: Pipeline,
    version_id: int,
    since: datetime,
    chunk: int = 20_000,
) -> Iterator[list[dict[str, Any]]]:
    """The candidate's answers to the predictions made at or after ``since``.

    Rows for :func:`db.repositories.shadow.insert_shadow`, ``chunk`` at a time. In the story
    the candidate answers each request in the shadow as it arrives, so a row is scored at
    its prediction's time; scores are rounded as the history's are.
    """
    first = int(np.searchsorted(history.seconds, since.timestamp(), side="left"))
    labels = [str(c) for c in pipeline.classes_]
    for lo in range(first, len(history), chunk):
        hi = min(lo + chunk, len(history))
        with threadpool_limits(limits=1):
            proba = np.asarray(pipeline.predict_proba(history.features.iloc[lo:hi]),
                               dtype=np.float64).round(_DECIMALS)
        best = proba.argmax(axis=1)
        times = to_datetimes(history.seconds[lo:hi])
        rows = proba.tolist()
        yield [
            {"prediction_id": history.ids[lo + i], "version_id": version_id,
             "predicted_at": times[i], "predicted_class": labels[b],
             "top_score": rows[i][b], "scores": dict(zip(labels, rows[i], strict=True)),
             "scored_at": times[i]}
            for i, b in enumerate(best.tolist())
        ]
