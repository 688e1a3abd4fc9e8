"""Cross-validation and the bounded hyper-parameter search, one fit at a time.

scikit-learn's ``GridSearchCV`` cannot be stopped between fits or report them, so the
fold loop is ours: every candidate of a small grid is cross-validated with the same
stratified folds, one fit after another; between fits a cancel is noticed and the time
budget is checked, and when the budget is spent the best candidate whose folds all
finished wins (the base parameters when none did).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, StratifiedKFold

from services.quality.metrics import confusion_matrix, report_from_matrix

__all__ = [
    "CANDIDATE_VALUES",
    "CrossValidation",
    "SearchResult",
    "TrainingCancelled",
    "cross_validate",
    "final_step",
    "scores",
    "search_grid",
]

#: Values tried for the final estimator's parameters, for those it has: regularisation
#: and class weights of linear models, the size limits of trees and forests. A grid holds
#: every combination of the parameters the estimator has (5 × 2 for logistic regression).
CANDIDATE_VALUES: dict[str, list[Any]] = {
    "C": [0.01, 0.1, 1.0, 10.0, 100.0],
    "alpha": [1e-5, 1e-4, 1e-3, 1e-2],
    "class_weight": [None, "balanced"],
    "max_depth": [None, 4, 8, 16],
    "min_samples_leaf": [1, 5, 20],
}

Tick = Callable[[int, int], None]


class TrainingCancelled(Exception):  # noqa: N818 (a cancel is not an error)
    """Training stopped because it was asked to (``should_stop()`` answered true)."""

    def __str__(self) -> str:
        return "training was cancelled before it finished; nothing was kept"


@dataclass(frozen=True)
class CrossValidation:
    """Scores of one parameter set on each finished fold."""

    params: dict[str, Any]
    accuracy: tuple[float, ...]
    f1_macro: tuple[float, ...]

    def summary(self) -> dict[str, Any]:
        """Mean and spread across folds (JSON-ready; ``None`` when no fold finished)."""
        if not self.accuracy:
            return {"cv_folds": 0, "cv_accuracy": None, "cv_accuracy_std": None,
                    "cv_f1_macro": None}
        acc = np.asarray(self.accuracy)
        f1 = np.asarray(self.f1_macro)
        return {"cv_folds": int(acc.size), "cv_accuracy": round(float(acc.mean()), 6),
                "cv_accuracy_std": round(float(acc.std()), 6),
                "cv_f1_macro": round(float(f1.mean()), 6)}


@dataclass(frozen=True)
class SearchResult:
    """What the search tried and chose."""

    best: CrossValidation
    candidates: int
    finished: int
    stopped_early: bool


def scores(true: npt.NDArray[np.str_], predicted: npt.NDArray[Any],
           classes: Sequence[str]) -> tuple[float, float]:
    """Accuracy and macro F1 of ``predicted`` against ``true`` (the quality page's own
    figures, from the confusion matrix over the model's classes)."""
    report = report_from_matrix(
        confusion_matrix(true, np.asarray(predicted).astype(str), classes), classes,
        bootstrap=0)
    return float(report.accuracy or 0.0), float(report.macro_f1 or 0.0)


def final_step(pipeline: Any) -> tuple[str, Any]:
    """The final estimator and the prefix its parameters take in the pipeline's
    ``set_params`` (``"classifier__"``; ``""`` for a bare estimator)."""
    steps = getattr(pipeline, "steps", None)
    if steps:
        name, estimator = steps[-1]
        return f"{name}__", estimator
    return "", pipeline


def search_grid(pipeline: Any) -> list[dict[str, Any]]:
    """Every combination of :data:`CANDIDATE_VALUES` for the parameters the pipeline's
    final estimator has, named for the pipeline (``[{}]`` when it has none of them)."""
    prefix, estimator = final_step(pipeline)
    own = estimator.get_params(deep=False)
    grid = {prefix + name: values for name, values in CANDIDATE_VALUES.items() if name in own}
    return [dict(p) for p in ParameterGrid(grid)] if grid else [{}]


def cross_validate(
    *,
    base: Any,
    grid: Sequence[Mapping[str, Any]],
    x: pd.DataFrame,
    y: npt.NDArray[np.str_],
    classes: Sequence[str],
    folds: int,
    seed: int,
    budget_s: float | None,
    tick: Tick,
    should_stop: Callable[[], bool],
) -> SearchResult:
    """Cross-validate each parameter set of ``grid`` on the same folds, in order, until
    done or ``budget_s`` is spent; ``tick(done, total)`` after each fit.

    Raises:
        TrainingCancelled: ``should_stop()`` answered true between two fits.
    """
    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y))
    total = len(grid) * folds
    began = time.monotonic()
    results: list[CrossValidation] = []
    done = 0
    stopped = False
    for params in grid:
        accuracy: list[float] = []
        f1: list[float] = []
        for train_idx, test_idx in splits:
            if should_stop():
                raise TrainingCancelled
            if budget_s is not None and time.monotonic() - began > budget_s:
                stopped = True
                break
            model = clone(base).set_params(**params)
            model.fit(x.iloc[train_idx], y[train_idx])
            fold_accuracy, fold_f1 = scores(y[test_idx], model.predict(x.iloc[test_idx]),
                                            classes)
            accuracy.append(fold_accuracy)
            f1.append(fold_f1)
            done += 1
            tick(done, total)
        if stopped:
            break
        results.append(CrossValidation(dict(params), tuple(accuracy), tuple(f1)))
    if not results:
        return SearchResult(best=CrossValidation({}, (), ()), candidates=len(grid),
                            finished=0, stopped_early=True)
    best = max(results, key=lambda r: (float(np.mean(r.accuracy)), -results.index(r)))
    return SearchResult(best=best, candidates=len(grid), finished=len(results),
                        stopped_early=stopped)
