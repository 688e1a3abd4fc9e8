"""The training data of a window from the store: its rows, class counts, the thin-window
refusal, the default window, and a fingerprint naming exactly the window's labelled rows
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from devstack.demo.training import build_pipeline
from services.access import SYSTEM
from services.labels.edits import LabelEdit
from services.labels.save import save_labels
from services.retrain.data import (
    TrainingDataError,
    check_window,
    class_counts,
    default_window,
    load_rows,
)
from services.retrain.fingerprint import rows_digest
from services.retrain.training import train
from tests.factories import SCHEMA, log_predictions, make_model

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CLASSES = ["stays", "churns"]


def _store(engine: Engine) -> dict[str, list[str]]:
    """Predictions before, inside and after the window ``[T0, T0 + 3 days)``, some
    labelled, and one of another model inside it."""
    model_id, version_id = make_model(engine, name="churn")
    other_id, other_version = make_model(engine, name="tickets")

    def rows(offset: timedelta, n: int, labelled: bool) -> list[tuple[datetime, str, str | None]]:
        return [(T0 + offset + timedelta(minutes=7 * i), "stays",
                 (("churns" if i % 3 == 0 else "stays") if labelled else None))
                for i in range(n)]

    return {
        "before": log_predictions(engine, model_id=model_id, version_id=version_id,
                                  rows=rows(-timedelta(hours=2), 10, True)),
        "inside": log_predictions(engine, model_id=model_id, version_id=version_id,
                                  rows=rows(timedelta(0), 120, True)),
        "unlabelled": log_predictions(engine, model_id=model_id, version_id=version_id,
                                      rows=rows(timedelta(hours=1), 30, False)),
        "after": log_predictions(engine, model_id=model_id, version_id=version_id,
                                 rows=rows(timedelta(days=3), 10, True)),
        "other": log_predictions(engine, model_id=other_id, version_id=other_version,
                                 rows=rows(timedelta(0), 10, True)),
    }


def test_the_window_holds_its_labelled_predictions_oldest_first(engine: Engine) -> None:
    ids = _store(engine)
    end = T0 + timedelta(days=3)
    rows = load_rows(engine, "churn", T0, end)
    assert sorted(rows.ids) == sorted(ids["inside"])
    assert list(rows.ts) == sorted(rows.ts)
    assert all(T0 <= ts < end for ts in rows.ts)
    assert list(rows.features.columns) == [s["name"] for s in SCHEMA]
    assert rows.features["tenure_months"].dtype == "float64"
    assert set(rows.features["plan"]) == {"basic"}
    assert sorted(rows.labels.tolist()) == sorted(
        ["churns" if i % 3 == 0 else "stays" for i in range(120)])
    assert set(rows.revisions) == {1}
    # Read in pages of 7: the same rows in the same order.
    seen: list[float] = []
    paged = load_rows(engine, "churn", T0, end, page_rows=7,
                      progress=lambda stage, percent, message: seen.append(percent))
    assert (paged.ids, paged.ts, paged.revisions) == (rows.ids, rows.ts, rows.revisions)
    assert len(seen) == 18
    assert seen == sorted(seen)
    assert seen[-1] == 10.0


def test_a_relabelled_prediction_carries_its_new_label_and_revision(engine: Engine) -> None:
    ids = _store(engine)
    first = load_rows(engine, "churn", T0, T0 + timedelta(days=1))
    target = first.ids[0]
    new_label = "stays" if first.labels[0] == "churns" else "churns"
    save_labels(engine=engine, actor=SYSTEM, edits=[LabelEdit(target, new_label, 1)])
    again = load_rows(engine, "churn", T0, T0 + timedelta(days=1))
    assert again.ids == first.ids
    assert (again.labels[0], again.revisions[0]) == (new_label, 2)
    assert rows_digest(again.ids, again.revisions) != rows_digest(first.ids, first.revisions)
    assert target in ids["inside"]


def test_class_counts_name_every_class_and_feed_the_refusal(engine: Engine) -> None:
    _store(engine)
    counts = class_counts(engine, "churn", T0, T0 + timedelta(days=3))
    assert counts == {"stays": 80, "churns": 40}
    check_window(counts, CLASSES, 40)
    with pytest.raises(TrainingDataError, match="'churns' has 40 \\(at least 50 per class"):
        check_window(counts, CLASSES, 50)
    empty = class_counts(engine, "churn", T0 - timedelta(days=9), T0 - timedelta(days=8))
    assert empty == {"stays": 0, "churns": 0}
    with pytest.raises(TrainingDataError, match="'stays' has 0, 'churns' has 0"):
        check_window(empty, CLASSES, 1)
    with pytest.raises(TrainingDataError, match="no model called 'nope'"):
        class_counts(engine, "nope", T0, T0 + timedelta(days=1))


def test_the_default_window_starts_when_drift_began_else_covers_two_weeks(
        engine: Engine) -> None:
    make_model(engine, name="churn")
    now = T0 + timedelta(days=20)
    drift = default_window(engine, "churn", now, T0 + timedelta(days=16))
    assert (drift.start, drift.end, drift.reason) == (T0 + timedelta(days=16), now, "drift")
    recent = default_window(engine, "churn", now, None)
    assert (recent.start, recent.end, recent.reason) == (now - timedelta(days=14), now,
                                                         "recent")
    with pytest.raises(TrainingDataError, match="no model called 'nope'"):
        default_window(engine, "nope", now, None)


def test_the_fingerprint_names_exactly_the_labelled_rows_of_the_window(engine: Engine) -> None:
    ids = _store(engine)
    rows = load_rows(engine, "churn", T0, T0 + timedelta(days=3))
    outcome = train(rows=rows, schema=SCHEMA, classes=CLASSES,
                    base_pipeline=build_pipeline(SCHEMA), preset="same", seed=0)
    assert set(outcome.training_ids) | set(outcome.holdout_ids) == set(ids["inside"])
    assert not set(outcome.training_ids) & set(outcome.holdout_ids)
    newest = sorted(zip(rows.ts, rows.ids, strict=True))[-24:]
    assert set(outcome.holdout_ids) == {pid for _, pid in newest}
    fp = outcome.fingerprint
    assert fp["training_rows"] == 96
    assert fp["training_sha256"] == rows_digest(outcome.training_ids, [1] * 96)
    assert fp["window"] == {"start": T0.isoformat(),
                            "end": (T0 + timedelta(days=3)).isoformat()}
