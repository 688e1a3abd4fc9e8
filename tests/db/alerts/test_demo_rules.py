"""The demo's default rules on the demo store: during the drift episode the churn drift
alert fires on the episode's first day and its accuracy alert a couple of days later (half
of the demo's labels arrive more than a day after their prediction, and the backtest
counts only the labels that had arrived), neither before the episode; after a better
version is promoted both resolve.

The demo's drift begins at noon halfway through its history and ramps up over three days
(:func:`devstack.demo.timeline.drift_schedule`); its first day is the first whole local
day of it, the day after the drift began (the afternoon it begins, the figures have not
moved yet)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.training import labelled_page
from db.session import session_scope
from devstack.demo.labels import GROUND_TRUTH_LABELER, GROUND_TRUTH_SOURCE
from devstack.demo.seed import seed_demo
from devstack.demo.timeline import drift_schedule
from services.alerts import store
from services.alerts.backtest import backtest
from services.alerts.observe import observe
from services.alerts.rules import DriftShareRule, QualityRule
from services.alerts.sources import Sources
from services.alerts.state import Status, is_clear
from services.drift.episode import local_midnight
from services.registry.artifacts import load_artifact
from services.settings import Settings

# Noon UTC: the demo's drift begins at noon, halfway through its fourteen days.
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _stored(engine: Engine) -> dict[str, Any]:
    return {s.rule.name: s.rule for s in store.list_rules(engine=engine)}


def _v2_answers(engine: Engine, settings: Settings, *, since: datetime, until: datetime,
                shift: timedelta) -> int:
    """Version 2 answers the labelled requests of ``[since, until)`` again, ``shift``
    later, and their true labels arrive with them: the drifted world, served by v2."""
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        v2 = next(v for v in model.versions if v.version == 2)
        page = labelled_page(session=session, model_id=model.id, start=since, end=until,
                             after=None, limit=1_000_000)
        model_id, v2_id, path, sha = model.id, v2.id, v2.artifact_path, v2.artifact_sha256
    pipeline = load_artifact(Path(path), sha)
    features = [json.loads(f) if isinstance(f, str) else f for f in page.features]
    proba = pipeline.predict_proba(pd.DataFrame(features))
    classes = [str(c) for c in pipeline.classes_]
    rows, labels = [], []
    for i, (ts, label) in enumerate(zip(page.ts, page.labels, strict=True)):
        best = int(proba[i].argmax())
        pid = f"v2-{i:06d}"
        rows.append({"id": pid, "model_id": model_id, "version_id": v2_id, "ts": ts + shift,
                     "features": features[i], "predicted_class": classes[best],
                     "scores": dict(zip(classes, map(float, proba[i]), strict=True)),
                     "top_score": float(proba[i][best]), "latency_ms": 5.0})
        labels.append({"prediction_id": pid, "label": label, "labeler": GROUND_TRUTH_LABELER,
                       "source": GROUND_TRUTH_SOURCE, "created_at": ts + shift})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=rows)
        insert_feedback(session=session, rows=labels)
    return len(rows)


def test_the_demo_rules_fire_on_the_episodes_first_day_and_resolve_after_v2(
        engine: Engine, settings: Settings) -> None:
    demo = settings.model_copy(update={"demo_days": 14})
    seeded = seed_demo(engine=engine, settings=demo, now=NOW)
    rules = _stored(engine)
    assert seeded.alert_rules == len(rules) > 0
    quality, drift = rules["churn accuracy"], rules["churn drift share"]
    assert isinstance(quality, QualityRule)
    assert isinstance(drift, DriftShareRule)
    sources = Sources.from_settings(demo)
    start = NOW - timedelta(days=14)
    ramp = drift_schedule(start=start, end=NOW).ramp_start
    first_day = local_midnight(ramp.date() + timedelta(days=1), demo.timezone)
    for rule in (drift, quality):
        replay = backtest(engine=engine, rule=rule, start=start, end=NOW, sources=sources)
        assert replay.unavailable is None
        assert replay.fired == 1, rule.name
        fired = replay.episodes[0].fired_at
        if rule is drift:  # the inputs: on the first whole day
            assert first_day <= fired < first_day + timedelta(days=1), (rule.name, fired)
        else:  # accuracy: once the drifted days' late labels are in
            assert first_day + timedelta(days=1) < fired < NOW
        assert all(status is Status.INACTIVE for at, _, status in replay.steps if at < ramp)
        assert replay.episodes[0].resolved_at is None  # v1 still serves at the end

    # Version 2, trained on the episode, is promoted; its labelled answers arrive.
    with session_scope(engine, write=True) as session:
        model = registry.get_model(session=session, name="churn")
        v2 = next(v for v in model.versions if v.version == 2)
        registry.set_production(session=session, model_id=model.id, version_id=v2.id,
                                actor="tester", reason="better on recent data", at=NOW)
    # The day before yesterday again, after the promotion (its labels are all in).
    assert _v2_answers(engine, demo, since=NOW - timedelta(days=2),
                       until=NOW - timedelta(days=1), shift=timedelta(days=2)) > 0
    later = NOW + timedelta(days=1)
    seen = observe(engine=engine, rule=quality, at=later)
    assert seen.unavailable is None
    assert (seen.sample_size or 0) >= quality.min_labels
    assert is_clear(quality, seen), seen
    # Replayed across the promotion: firing on v1's answers, resolved on v2's.
    firing = backtest(engine=engine, rule=quality, start=NOW - timedelta(hours=6),
                      end=later + timedelta(hours=1), sources=sources)
    assert firing.episodes
    assert firing.episodes[-1].resolved_at is not None
    # With v2 in production the same kind of day is judged against v2's training sample
    # (the world after the episode's ramp): the inputs no longer drift, the rule resolves.
    under_v1 = backtest(engine=engine, rule=drift, start=NOW - timedelta(hours=1), end=NOW,
                        sources=sources).steps[-1][1]
    drift_seen = observe(engine=engine, rule=drift, at=later, sources=sources)
    assert drift_seen.value is not None, drift_seen
    assert under_v1.value is not None
    assert drift_seen.value < under_v1.value
    assert is_clear(drift, drift_seen), drift_seen
