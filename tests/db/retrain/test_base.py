"""The model a retrain starts from: only a production version whose artifact we hold."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from services.retrain.base import production_base
from services.retrain.data import TrainingDataError
from tests.factories import make_model
from tests.serving_models import CLASSES, GOOD, SCHEMA, add_version, register_model


def test_the_production_pipeline_is_loaded_with_its_classes_and_schema(
        engine: Engine, tmp_path: Path) -> None:
    register_model(engine, folder=tmp_path)
    base = production_base(engine, "churn")
    assert base.classes == CLASSES
    assert base.schema == SCHEMA
    assert base.production.version == 1
    assert base.production.pipeline.predict_proba(pd.DataFrame([GOOD])).shape == (1, 2)


def test_a_model_without_a_pipeline_we_hold_is_refused_in_words(
        engine: Engine, tmp_path: Path) -> None:
    make_model(engine, name="served-elsewhere")  # its artifact path does not exist
    with pytest.raises(TrainingDataError,
                       match=r"served-elsewhere v1 cannot be retrained here: .*hand-off"):
        production_base(engine, "served-elsewhere")
    model_id, _ = register_model(engine, folder=tmp_path)
    add_version(engine, folder=tmp_path, model_id=model_id, seed=2, sha256="f" * 64)
    with pytest.raises(TrainingDataError, match=r"churn v2 cannot be retrained here: .*sha256"):
        production_base(engine, "churn")
    make_model(engine, name="new", production=False)
    with pytest.raises(TrainingDataError, match="new has no production version"):
        production_base(engine, "new")
    with pytest.raises(TrainingDataError, match="no model called 'nope'"):
        production_base(engine, "nope")
