"""Seed the store with the demo scenario: two trained models and their history.

Each model serves version 1 from the start of the history; a candidate version 2, trained
on data from the drift episode, answers the last days' requests in the shadow. The default
alert rules (:mod:`services.alerts.defaults`) are installed as the system actor. The same
``demo_seed`` and the same ``now`` give the same models, predictions, labels and shadow
answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.base import utcnow
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.registry import add_version, count_models, create_model, set_production
from db.repositories.shadow import insert_shadow
from db.session import session_scope
from devstack.demo.candidate import CandidatePlan, candidate_plan, shadow_rows, train_candidate
from devstack.demo.generator import Scenario
from devstack.demo.history import History, simulate_history
from devstack.demo.scenarios import SCENARIOS
from devstack.demo.training import TrainedModel, train_scenario
from services.access.principal import SYSTEM
from services.alerts.defaults import install_defaults
from services.registry.artifacts import save_artifact
from services.settings import Settings

__all__ = ["SEED_ACTOR", "SeedReport", "artifact_path", "demo_rng", "seed_demo"]

#: Actor of the demo's registry changes.
SEED_ACTOR = "demo-seed"
#: Days of (notional) training data before the history starts.
TRAIN_WINDOW_DAYS = 28
_CHUNK = 20_000
# Random stream numbers, so each use of the seed is independent of the others.
_TRAINING_STREAM = 0
_HISTORY_STREAM = 1
_CANDIDATE_STREAM = 2


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_demo` did.

    Attributes:
        models: names of the models created (empty when skipped).
        predictions: predictions inserted.
        labels: ground-truth rows inserted.
        shadow: answers of the candidate versions inserted (shadow predictions).
        skipped: the store already had models, so nothing was written.
        start: first moment of the seeded history.
        end: its end (``now``).
        seconds: wall time taken.
        alert_rules: default alert rules installed (:mod:`services.alerts.defaults`).
    """

    models: tuple[str, ...]
    predictions: int
    labels: int
    skipped: bool
    shadow: int = 0
    start: datetime | None = None
    end: datetime | None = None
    seconds: float = 0.0
    alert_rules: int = 0


def demo_rng(seed: int, scenario_index: int, stream: int) -> np.random.Generator:
    """The random generator of one scenario's training or history stream."""
    return np.random.default_rng([seed, scenario_index, stream])


def artifact_path(settings: Settings, model_name: str, version: int) -> Path:
    """Where a model version's artifact lives."""
    return settings.resolved_artifacts_dir / f"{model_name}-v{version}.pkl"


def seed_demo(*, engine: Engine, settings: Settings, now: datetime | None = None) -> SeedReport:
    """Create the demo models and ``settings.demo_days`` days of history ending at ``now``.

    Does nothing when the store already has any model (so it is safe to run on every
    start). Everything is written in one transaction: a failure leaves no half demo.

    Args:
        engine: the store (schema at head).
        settings: ``demo_seed``, ``demo_days`` and the artifacts folder are used.
        now: end of the history; the current time when omitted.

    Raises:
        ValueError: ``now`` is a naive datetime, or ``demo_days`` is not positive.
    """
    began = time.perf_counter()
    end = now if now is not None else utcnow()
    if end.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if settings.demo_days <= 0:
        raise ValueError(f"demo_days must be positive, got {settings.demo_days}")
    skipped = SeedReport(models=(), predictions=0, labels=0, skipped=True)
    with session_scope(engine) as session:
        if _has_models(session):
            return skipped

    start = end - timedelta(days=settings.demo_days)
    plan = candidate_plan(start=start, end=end)
    prepared = _prepare(settings, plan=plan, start=start, end=end)
    with session_scope(engine, write=True) as session:
        # Checked again under the write lock: another seeder may have won the race.
        if _has_models(session):
            return skipped
        predictions, shadow = _store_models(session, settings=settings, prepared=prepared,
                                            plan=plan, start=start)
        labels = 0
        for _, _, history, _ in prepared:
            for rows in history.feedback_rows(chunk=_CHUNK):
                labels += insert_feedback(session=session, rows=rows)
    rules = install_defaults(engine=engine, actor=SYSTEM,
                             models=[s.name for s in SCENARIOS], settings=settings)
    return SeedReport(
        models=tuple(s.name for s in SCENARIOS),
        predictions=predictions,
        labels=labels,
        skipped=False,
        shadow=shadow,
        start=start,
        end=end,
        seconds=time.perf_counter() - began,
        alert_rules=len(rules),
    )


# A scenario, its trained version 1, its simulated history and its candidate version 2.
_Prepared = tuple[Scenario, TrainedModel, History, TrainedModel]


def _prepare(settings: Settings, *, plan: CandidatePlan, start: datetime,
             end: datetime) -> list[_Prepared]:
    """Train each scenario's two versions and simulate its history (nothing stored yet)."""
    prepared: list[_Prepared] = []
    for index, scenario in enumerate(SCENARIOS):
        trained = train_scenario(
            scenario, rng=demo_rng(settings.demo_seed, index, _TRAINING_STREAM)
        )
        history = simulate_history(
            scenario=scenario,
            pipeline=trained.pipeline,
            rng=demo_rng(settings.demo_seed, index, _HISTORY_STREAM),
            start=start,
            end=end,
            now=end,
            count=scenario.daily_volume * settings.demo_days,
        )
        candidate = train_candidate(
            scenario, plan=plan, start=start,
            rng=demo_rng(settings.demo_seed, index, _CANDIDATE_STREAM),
        )
        prepared.append((scenario, trained, history, candidate))
    return prepared


def _store_models(session: Session, *, settings: Settings, prepared: list[_Prepared],
                  plan: CandidatePlan, start: datetime) -> tuple[int, int]:
    """Register each model and its versions and store its predictions and the candidate's
    shadow answers; returns how many predictions and shadow answers were stored."""
    predictions = shadow = 0
    for scenario, trained, history, candidate in prepared:
        model_id, version_id = _register(
            session, settings=settings, scenario=scenario, trained=trained, start=start
        )
        for rows in history.prediction_rows(
            model_id=model_id, version_id=version_id, chunk=_CHUNK
        ):
            predictions += insert_predictions(session=session, rows=rows)
        candidate_id = _register_candidate(
            session, settings=settings, scenario=scenario, model_id=model_id,
            trained=candidate, plan=plan,
        )
        for rows in shadow_rows(history, pipeline=candidate.pipeline,
                                version_id=candidate_id, since=plan.train_end,
                                chunk=_CHUNK):
            shadow += insert_shadow(session=session, rows=rows)
    return predictions, shadow


def _has_models(session: Session) -> bool:
    return count_models(session=session) > 0


def _register(
    session: Session,
    *,
    settings: Settings,
    scenario: Scenario,
    trained: TrainedModel,
    start: datetime,
) -> tuple[int, int]:
    """Register the model and its version 1, in production from ``start``."""
    classes = [str(c) for c in trained.pipeline.classes_]
    model = create_model(
        session=session,
        name=scenario.name,
        task=scenario.task,
        class_labels=classes,
        feature_schema=scenario.schema(),
        description=scenario.description,
    )
    path = artifact_path(settings, scenario.name, 1)
    sha256 = save_artifact(trained.pipeline, path)
    version = add_version(
        session=session,
        model_id=model.id,
        artifact_path=str(path),
        artifact_sha256=sha256,
        created_by=SEED_ACTOR,
        holdout_metrics=dict(trained.holdout_metrics),
        reference_sample=trained.reference_sample,
        train_window_start=start - timedelta(days=TRAIN_WINDOW_DAYS),
        train_window_end=start,
        notes="Trained on generated reference data by the demo seed.",
    )
    # The story: trained and registered the day before the history begins.
    model.created_at = start - timedelta(days=1)
    version.created_at = start - timedelta(hours=20)
    set_production(
        session=session,
        model_id=model.id,
        version_id=version.id,
        actor=SEED_ACTOR,
        reason="initial deployment of the demo model",
        at=start,
    )
    return model.id, version.id


def _register_candidate(
    session: Session,
    *,
    settings: Settings,
    scenario: Scenario,
    model_id: int,
    trained: TrainedModel,
    plan: CandidatePlan,
) -> int:
    """Register version 2, trained on the drift episode, as a candidate; its row id."""
    path = artifact_path(settings, scenario.name, 2)
    sha256 = save_artifact(trained.pipeline, path)
    version = add_version(
        session=session,
        model_id=model_id,
        artifact_path=str(path),
        artifact_sha256=sha256,
        created_by=SEED_ACTOR,
        holdout_metrics=dict(trained.holdout_metrics),
        reference_sample=trained.reference_sample,
        train_window_start=plan.train_start,
        train_window_end=plan.train_end,
        notes="Retrained by the demo seed on data from the drift episode; answers every "
              "request in the shadow since it was registered.",
    )
    version.created_at = plan.train_end
    return version.id
