"""The bounded search: its grid from the final estimator's own parameters, and a time
budget that stops between fits and keeps the best candidate that finished."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from services.retrain import search
from services.retrain.search import cross_validate, search_grid
from services.retrain.training import train
from tests.retrain_rows import CLASSES, SCHEMA, base_pipeline, churn_rows


def test_the_grid_takes_the_parameters_the_final_estimator_has() -> None:
    grid = search_grid(base_pipeline())
    assert len(grid) == 10
    assert {frozenset(g) for g in grid} == {frozenset({"classifier__C",
                                                       "classifier__class_weight"})}
    assert {g["classifier__C"] for g in grid} == {0.01, 0.1, 1.0, 10.0, 100.0}
    tree = search_grid(Pipeline([("tree", DecisionTreeClassifier())]))
    assert len(tree) == 4 * 3 * 2
    assert "tree__max_depth" in tree[0]
    assert len(search_grid(LogisticRegression())) == 10
    assert "C" in search_grid(
        LogisticRegression())[0]
    assert search_grid(DummyClassifier()) == [{}]


def _clock(step: float) -> Any:
    """A monotonic clock that moves ``step`` seconds each time it is read."""
    ticks = itertools.count()
    return lambda: next(ticks) * step


def test_a_spent_budget_stops_the_search_and_keeps_the_best_finished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rows = churn_rows(900, seed=11)
    grid = search_grid(base_pipeline())
    args: dict[str, Any] = {"base": base_pipeline(), "x": rows.features, "y": rows.labels,
                            "classes": CLASSES, "folds": 3, "seed": 5,
                            "should_stop": lambda: False}
    fits: list[int] = []
    # Each budget check reads the clock once and moves it one second: 12 seconds are
    # 12 fits, four candidates of three folds.
    monkeypatch.setattr(search.time, "monotonic", _clock(1.0))
    bounded = cross_validate(grid=grid, budget_s=12.0, tick=lambda d, t: fits.append(d),
                             **args)
    monkeypatch.undo()
    assert (bounded.candidates, bounded.finished, bounded.stopped_early) == (10, 4, True)
    assert fits == list(range(1, 13))
    unbounded = cross_validate(grid=grid[:4], budget_s=None, tick=lambda d, t: None, **args)
    assert bounded.best == unbounded.best
    assert not unbounded.stopped_early


def test_train_with_no_time_left_keeps_the_production_parameters(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.time, "monotonic", _clock(100.0))
    outcome = train(rows=churn_rows(500, seed=12), schema=SCHEMA, classes=CLASSES,
                    base_pipeline=base_pipeline(), preset="search", seed=1,
                    time_budget_s=50.0)
    assert outcome.search == {"candidates": 10, "finished": 0, "stopped_early": True,
                              "time_budget_s": 50.0, "best": {}}
    assert outcome.params["classifier__C"] == 1.0
    assert outcome.holdout_metrics["cv_folds"] == 0
    assert 0.5 < outcome.holdout_metrics["accuracy"] <= 1.0


def test_a_finished_search_reports_its_best_parameters() -> None:
    outcome = train(rows=churn_rows(800, seed=13), schema=SCHEMA, classes=CLASSES,
                    base_pipeline=base_pipeline(), preset="search", seed=1, folds=3)
    assert outcome.search is not None
    assert (outcome.search["finished"], outcome.search["stopped_early"]) == (10, False)
    for name, value in outcome.search["best"].items():
        assert outcome.params[name] == value
    assert outcome.fingerprint["params"] == outcome.params
