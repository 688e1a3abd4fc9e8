"""Loading a checked artifact and scoring records with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.registry.artifacts import ArtifactError, save_artifact
from services.registry.loading import LoadedModel, ModelLoadError, load_model
from services.registry.scoring import frame_of, score_records
from tests.serving_models import CLASSES, GOOD, SCHEMA, train_pipeline


def _load(path: Path, sha256: str, schema: list[dict[str, Any]] = SCHEMA) -> LoadedModel:
    return load_model(
        version=1,
        version_id=1,
        artifact_path=str(path),
        artifact_sha256=sha256,
        feature_schema=schema,
    )


def test_a_loaded_model_scores_like_the_pipeline_itself(tmp_path: Path) -> None:
    pipeline = train_pipeline(seed=1)
    model = _load(tmp_path / "m.pkl", save_artifact(pipeline, tmp_path / "m.pkl"))
    records = [GOOD, {**GOOD, "tenure": 0.0, "plan": "basic"}]

    scored = score_records(model=model, schema=SCHEMA, records=records)

    expected = pipeline.predict_proba(frame_of(SCHEMA, records))
    assert model.classes == CLASSES
    for answer, row in zip(scored, expected, strict=True):
        assert list(answer.probabilities.values()) == pytest.approx(list(row))
        assert answer.predicted_class == CLASSES[int(np.argmax(row))]
        assert answer.top_score == pytest.approx(max(row))


def test_a_schema_listing_the_columns_in_another_order_still_scores(tmp_path: Path) -> None:
    pipeline = train_pipeline(seed=1)
    model = _load(tmp_path / "m.pkl", save_artifact(pipeline, tmp_path / "m.pkl"))
    reordered = [SCHEMA[2], SCHEMA[0], SCHEMA[1]]

    (answer,) = score_records(model=model, schema=reordered, records=[GOOD])

    (expected,) = pipeline.predict_proba(frame_of(SCHEMA, [GOOD]))
    assert list(answer.probabilities.values()) == pytest.approx(list(expected))


def test_an_artifact_whose_hash_differs_is_not_loaded(tmp_path: Path) -> None:
    save_artifact(train_pipeline(seed=1), tmp_path / "m.pkl")

    with pytest.raises(ArtifactError, match="sha256"):
        _load(tmp_path / "m.pkl", "0" * 64)


def test_an_artifact_for_other_features_is_refused(tmp_path: Path) -> None:
    sha = save_artifact(train_pipeline(seed=1), tmp_path / "m.pkl")
    other = [*SCHEMA[:2], {"name": "region", "type": "category"}]

    with pytest.raises(ModelLoadError, match="region"):
        _load(tmp_path / "m.pkl", sha, other)


def test_an_object_without_predict_proba_is_refused(tmp_path: Path) -> None:
    sha = save_artifact({"not": "a model"}, tmp_path / "m.pkl")

    with pytest.raises(ModelLoadError, match="predict_proba"):
        _load(tmp_path / "m.pkl", sha)
