"""The fingerprint names the training set exactly, and training again from it gives the
same model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from services.registry.artifacts import load_artifact
from services.retrain.data import TrainingDataError, check_window
from services.retrain.fingerprint import rows_digest
from services.retrain.register import save_candidate
from services.retrain.training import reproduce, split_holdout, train
from tests.retrain_rows import CLASSES, SCHEMA, base_pipeline, churn_rows


def test_the_digest_is_of_the_sorted_id_revision_lines() -> None:
    expected = hashlib.sha256(b"a:2\nb:1\n").hexdigest()
    assert rows_digest(["b", "a"], [1, 2]) == expected
    assert rows_digest(["b", "a"], [1, 3]) != expected


@pytest.mark.parametrize("preset", ["same", "search"])
def test_training_again_from_the_fingerprint_gives_the_same_model(preset: str) -> None:
    rows = churn_rows(1_500, seed=21, drift=np.linspace(0.0, 1.0, 1_500))
    outcome = train(rows=rows, schema=SCHEMA, classes=CLASSES, base_pipeline=base_pipeline(),
                    preset=preset, seed=3, folds=3)
    fp = outcome.fingerprint
    assert (fp["training_rows"], fp["holdout_rows"], fp["seed"]) == (1_200, 300, 3)
    train_part, _ = split_holdout(rows, fp["holdout_fraction"])
    assert fp["training_sha256"] == rows_digest(outcome.training_ids, [1] * 1_200)
    # A different production pipeline meanwhile: the fingerprint's parameters still rule.
    other_base = base_pipeline(seed=9).set_params(classifier__C=0.001)
    again = reproduce(rows=train_part, base_pipeline=other_base, fingerprint=fp)
    probe = churn_rows(500, seed=22, drift=0.5).features
    np.testing.assert_allclose(again.predict_proba(probe), outcome.pipeline.predict_proba(probe),
                               rtol=0, atol=1e-12)


def test_a_changed_label_revision_cannot_be_trained_again() -> None:
    rows = churn_rows(400, seed=23)
    outcome = train(rows=rows, schema=SCHEMA, classes=CLASSES, base_pipeline=base_pipeline(),
                    preset="same", seed=3)
    train_part, _ = split_holdout(rows, 0.2)
    revised = type(train_part)(**{**train_part.__dict__,
                                  "revisions": (2, *train_part.revisions[1:])})
    with pytest.raises(TrainingDataError, match="a label was changed, added or deleted"):
        reproduce(rows=revised, base_pipeline=base_pipeline(), fingerprint=outcome.fingerprint)


def test_check_window_names_each_short_class_and_what_to_do() -> None:
    check_window({"active": 50, "churned": 50}, CLASSES, 50)
    with pytest.raises(TrainingDataError) as caught:
        check_window({"active": 1_200, "churned": 7}, CLASSES, 50)
    assert str(caught.value) == (
        "too few labelled predictions to train on in this window: 'churned' has 7 (at least "
        "50 per class are needed); widen the window or label more predictions of the short "
        "class first")
    with pytest.raises(TrainingDataError, match=r"'active' has 0, 'churned' has 3 .*classes first"):
        check_window({"churned": 3}, CLASSES, 50)


def test_a_saved_candidate_loads_back_by_its_hash(tmp_path: Path) -> None:
    rows = churn_rows(400, seed=24)
    outcome = train(rows=rows, schema=SCHEMA, classes=CLASSES, base_pipeline=base_pipeline(),
                    preset="same", seed=3)
    saved = save_candidate(outcome=outcome, model="churn", artifacts_dir=tmp_path,
                           start=rows.start, end=rows.end, job=12)
    again = save_candidate(outcome=outcome, model="churn", artifacts_dir=tmp_path,
                           start=rows.start, end=rows.end, job=12)
    assert saved.artifact_path != again.artifact_path
    assert saved.artifact_path.name.startswith("churn-job12-")
    loaded = load_artifact(saved.artifact_path, saved.artifact_sha256)
    probe = rows.features.iloc[:50]
    np.testing.assert_array_equal(loaded.predict_proba(probe),
                                  outcome.pipeline.predict_proba(probe))
    assert saved.holdout_metrics == outcome.holdout_metrics
    assert (saved.train_window_start, saved.train_window_end) == (rows.start, rows.end)
    assert saved.training_ids == outcome.training_ids
    assert len(saved.reference_sample) == 320
