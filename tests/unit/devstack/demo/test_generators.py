"""The demo generators: schemas, reproducibility, drift, and the trained pipelines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from devstack.demo.generator import Scenario, to_frame, to_records
from devstack.demo.scenarios import SCENARIOS, get_scenario
from devstack.demo.training import REFERENCE_ROWS, TrainedModel, train_scenario
from services.registry.features import validate_record

SCENARIO_IDS = [s.name for s in SCENARIOS]


@pytest.fixture(scope="module")
def trained() -> dict[str, TrainedModel]:
    """Each scenario's model, trained once for the module."""
    return {s.name: train_scenario(s, rng=np.random.default_rng(7)) for s in SCENARIOS}


def test_catalogue_has_a_binary_and_a_multiclass_model() -> None:
    churn = get_scenario("churn")
    tickets = get_scenario("ticket-routing")
    assert churn.task == "binary"
    assert len(churn.class_labels) == 2
    assert tickets.task == "multiclass"
    assert len(tickets.class_labels) >= 4
    with pytest.raises(KeyError, match="no demo model"):
        get_scenario("nope")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_schema_is_well_formed_and_matches_the_drawn_columns(scenario: Scenario) -> None:
    schema = scenario.schema()
    for spec in schema:
        assert set(spec) <= {"name", "type", "categories"}
        assert spec["type"] in ("number", "category")
        assert ("categories" in spec) == (spec["type"] == "category")
    assert len({s["name"] for s in schema}) == len(schema)
    assert len([s for s in schema if s["type"] == "number"]) >= 2
    assert len([s for s in schema if s["type"] == "category"]) >= 2
    for drift in (0.0, 1.0):
        sample = scenario.draw(np.random.default_rng(1), 2000, drift)
        assert list(sample.features.columns) == scenario.feature_names
        for spec in schema:
            column = sample.features[spec["name"]]
            if spec["type"] == "number":
                assert column.dtype == np.float64
                assert np.isfinite(column).all()
            else:
                assert set(column) <= set(spec["categories"])
        assert set(sample.labels) == set(scenario.class_labels)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_records_pass_the_services_feature_validation(scenario: Scenario) -> None:
    sample = scenario.draw(np.random.default_rng(2), 50, 0.5)
    records = to_records(sample.features)
    for record in records:
        assert validate_record(scenario.schema(), record) == record
    assert to_frame(records, scenario.schema()).equals(sample.features)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_same_seed_gives_same_rows_and_another_seed_different_rows(scenario: Scenario) -> None:
    drift = np.linspace(0.0, 1.0, 500)
    first = scenario.draw(np.random.default_rng(11), 500, drift)
    again = scenario.draw(np.random.default_rng(11), 500, drift)
    other = scenario.draw(np.random.default_rng(12), 500, drift)
    pd.testing.assert_frame_equal(first.features, again.features)
    assert list(first.labels) == list(again.labels)
    assert not first.features.equals(other.features)


def test_drift_must_be_a_number_or_one_per_row() -> None:
    with pytest.raises(ValueError, match="expected a number"):
        get_scenario("churn").draw(np.random.default_rng(0), 10, np.zeros(3))


def test_drift_shifts_the_input_distributions() -> None:
    rng = np.random.default_rng(3)
    churn = get_scenario("churn")
    before, after = churn.draw(rng, 5000, 0.0).features, churn.draw(rng, 5000, 1.0).features
    assert after["monthly_charges"].mean() > before["monthly_charges"].mean() + 5
    assert after["tenure_months"].mean() < before["tenure_months"].mean() - 5
    fiber = (after["internet_service"] == "fiber").mean() - (
        before["internet_service"] == "fiber"
    ).mean()
    assert fiber > 0.1
    tickets = get_scenario("ticket-routing")
    before, after = tickets.draw(rng, 5000, 0.0).features, tickets.draw(rng, 5000, 1.0).features
    app = (after["product_area"] == "mobile_app").mean() - (
        before["product_area"] == "mobile_app"
    ).mean()
    assert app > 0.08
    assert (after["channel"] == "chat").mean() > (before["channel"] == "chat").mean() + 0.2


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_pipeline_classes_are_the_class_labels(
    scenario: Scenario, trained: dict[str, TrainedModel]
) -> None:
    pipeline = trained[scenario.name].pipeline
    assert [str(c) for c in pipeline.classes_] == list(scenario.class_labels)
    assert all(isinstance(c, str) for c in pipeline.classes_)
    records = to_records(scenario.draw(np.random.default_rng(4), 20, 0.0).features)
    frame = to_frame(records, scenario.schema())
    probabilities = pipeline.predict_proba(frame)
    assert probabilities.shape == (20, len(scenario.class_labels))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_unseen_category_is_scored_not_rejected(trained: dict[str, TrainedModel]) -> None:
    scenario = get_scenario("ticket-routing")
    records = to_records(scenario.draw(np.random.default_rng(5), 3, 0.0).features)
    records[0]["product_area"] = "smart_watch"
    probabilities = trained[scenario.name].pipeline.predict_proba(
        to_frame(records, scenario.schema())
    )
    assert probabilities.shape == (3, 4)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_drift_makes_the_reference_model_clearly_worse(
    scenario: Scenario, trained: dict[str, TrainedModel]
) -> None:
    model = trained[scenario.name]
    rng = np.random.default_rng(6)

    def accuracy(drift: float) -> float:
        sample = scenario.draw(rng, 6000, drift)
        return float((model.pipeline.predict(sample.features) == sample.labels).mean())

    reference, drifted = accuracy(0.0), accuracy(1.0)
    assert reference > 0.82
    assert drifted < 0.72
    assert reference - drifted > 0.15
    assert model.holdout_metrics["accuracy"] == pytest.approx(reference, abs=0.03)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIO_IDS)
def test_training_is_reproducible_and_keeps_a_reference_sample(scenario: Scenario) -> None:
    first = train_scenario(scenario, rng=np.random.default_rng(8))
    again = train_scenario(scenario, rng=np.random.default_rng(8))
    assert first.holdout_metrics == again.holdout_metrics
    assert first.reference_sample == again.reference_sample
    assert len(first.reference_sample) == REFERENCE_ROWS
    assert set(first.reference_sample[0]) == set(scenario.feature_names)


