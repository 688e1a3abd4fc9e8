"""Training a candidate on a window's labelled rows (run in the worker's child process).

:func:`train` holds out the newest part of the window (never trained on), fits on the
rest with the production version's pipeline refitted as it is (preset ``same``) or with
the best parameters of a bounded search (preset ``search``), evaluates on the held-out
part and by cross-validation on the training part, and returns the fitted pipeline with
its fingerprint and a reference sample for drift. It reports each stage through
``progress(stage, percent, message)`` and polls ``should_stop()`` between fits.
:func:`reproduce` trains the same model again from a fingerprint.

BLAS and OpenMP are held to one thread while training, so a run leaves the other core to
the inference service (these matrices are small; more threads only fight each other).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from services.retrain import fingerprint as fp
from services.retrain.data import TrainingDataError, TrainingRows
from services.retrain.search import (
    SearchResult,
    TrainingCancelled,
    cross_validate,
    final_step,
    scores,
    search_grid,
)

__all__ = [
    "HOLDOUT_FRACTION",
    "PRESETS",
    "REFERENCE_ROWS",
    "TrainingCancelled",
    "TrainingOutcome",
    "reproduce",
    "split_holdout",
    "train",
]

#: ``same``: the production pipeline refitted as it is; ``search``: a bounded grid search.
PRESETS = ("same", "search")
#: Share of the window, its newest rows, held out from training.
HOLDOUT_FRACTION = 0.2
#: Training records kept as the candidate's drift reference (as the demo's versions keep).
REFERENCE_ROWS = 5_000
#: Cross-validation folds on the training part.
FOLDS = 5
#: Percent of the job at which training starts (loading the data comes first) and
#: evaluating on the held-out part starts.
TRAINING_FROM = 10.0
EVALUATING_FROM = 90.0

Progress = Callable[[str, float, str], None]


@dataclass(frozen=True)
class TrainingOutcome:
    """A trained candidate and what registering it needs.

    Attributes:
        pipeline: the fitted pipeline (the artifact).
        holdout_metrics: accuracy and macro F1 on the held-out newest rows, with their
            count, and the cross-validation figures on the training part.
        params: the final estimator's parameters it was fitted with (JSON values).
        search: what a search tried (``None`` for preset ``same``).
        fingerprint: JSON-ready; see :mod:`services.retrain.fingerprint`.
        training_ids: ids of the predictions trained on, sorted.
        holdout_ids: ids of the held-out predictions, sorted.
        reference_sample: up to 5,000 training records, the drift reference.
        seconds: wall time of :func:`train`.
    """

    pipeline: Any
    holdout_metrics: dict[str, Any]
    params: dict[str, Any]
    search: dict[str, Any] | None
    fingerprint: dict[str, Any]
    training_ids: tuple[str, ...]
    holdout_ids: tuple[str, ...]
    reference_sample: list[dict[str, Any]]
    seconds: float


def split_holdout(rows: TrainingRows, fraction: float) -> tuple[TrainingRows, TrainingRows]:
    """The training part (older rows) and the held-out part (the newest ``fraction`` of
    the rows by prediction time, at least one row)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout_fraction must be between 0 and 1, not {fraction}")
    held = max(1, math.ceil(len(rows) * fraction))
    cut = len(rows) - held
    return rows.take(0, cut), rows.take(cut, len(rows))


def _check_classes(train_part: TrainingRows, classes: Sequence[str], folds: int) -> int:
    """The folds to use: refuse labels outside ``classes`` and a class with fewer training
    rows than two folds need."""
    present, counts = np.unique(train_part.labels, return_counts=True)
    by_label = dict(zip(present.tolist(), counts.tolist(), strict=True))
    unknown = sorted(set(by_label) - set(classes))
    if unknown:
        raise TrainingDataError(
            f"labels {unknown} are not classes of the model ({list(classes)}); relabel those "
            f"predictions first")
    fewest = min(by_label.get(c, 0) for c in classes)
    if fewest < 2:
        short = [c for c in classes if by_label.get(c, 0) < 2]
        raise TrainingDataError(
            f"the training part of the window (all but its newest rows) has fewer than 2 "
            f"labelled rows of {short}; widen the window")
    return int(min(folds, fewest))


def _seeded(pipeline: Any, seed: int) -> Any:
    """An unfitted copy of ``pipeline`` whose final estimator draws from ``seed``."""
    base = clone(pipeline)
    prefix, estimator = final_step(base)
    if "random_state" in estimator.get_params(deep=False):
        base.set_params(**{prefix + "random_state": seed})
    return base


def _fit(base: Any, result: SearchResult, rows: TrainingRows) -> Any:
    model = clone(base).set_params(**result.best.params)
    model.fit(rows.features, rows.labels)
    return model


def _reference(rows: TrainingRows, seed: int) -> list[dict[str, Any]]:
    """Up to :data:`REFERENCE_ROWS` training records, drawn with ``seed``, oldest first."""
    n = len(rows)
    keep = np.sort(np.random.default_rng(seed).choice(n, size=min(REFERENCE_ROWS, n),
                                                      replace=False))
    sample = rows.features.iloc[keep]
    records: list[dict[str, Any]] = sample.astype(object).to_dict(orient="records")
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
            for r in records]


def _ticker(progress: Progress, preset: str) -> Callable[[int, int], None]:
    """Progress of the fits: ``search fold k of n`` or ``training``, from 10 to 90 %."""
    def tick(done: int, total: int) -> None:
        percent = TRAINING_FROM + (EVALUATING_FROM - TRAINING_FROM) * done / (total + 1)
        if preset == "search":
            progress(f"search fold {done} of {total}", percent,
                     f"cross-validated {done} of {total} fits of the parameter grid")
        else:
            progress("training", percent, f"cross-validation fold {done} of {total}")
    return tick


def _search_summary(result: SearchResult, budget: float | None) -> dict[str, Any]:
    return {"candidates": result.candidates, "finished": result.finished,
            "stopped_early": result.stopped_early, "time_budget_s": budget,
            "best": dict(result.best.params)}


def train(
    *,
    rows: TrainingRows,
    schema: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    base_pipeline: Any,
    preset: str,
    seed: int,
    holdout_fraction: float = HOLDOUT_FRACTION,
    time_budget_s: float | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    folds: int = FOLDS,
) -> TrainingOutcome:
    """Train a candidate on ``rows`` (module notes). ``schema`` is the model's feature
    schema (the rows' columns); ``time_budget_s`` bounds the search's fits.

    Raises:
        TrainingDataError: too few rows of a class in the training part, or a label
            outside ``classes``.
        TrainingCancelled: ``should_stop()`` answered true between two steps.
        ValueError: an unknown preset or holdout fraction.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
    report = progress or (lambda stage, percent, message: None)
    stop = should_stop or (lambda: False)
    began = time.monotonic()
    train_part, holdout = split_holdout(rows, holdout_fraction)
    folds = _check_classes(train_part, classes, folds)
    names = [str(spec["name"]) for spec in schema]
    if list(rows.features.columns) != names:
        raise ValueError(f"the rows' columns {list(rows.features.columns)} are not the "
                         f"schema's {names}")
    report("training", TRAINING_FROM, f"training on {len(train_part):,} rows, holding out "
           f"the newest {len(holdout):,}")
    with threadpool_limits(limits=1):
        base = _seeded(base_pipeline, seed)
        grid = search_grid(base) if preset == "search" else [{}]
        result = cross_validate(
            base=base, grid=grid, x=train_part.features, y=train_part.labels,
            classes=classes, folds=folds, seed=seed,
            budget_s=time_budget_s if preset == "search" else None,
            tick=_ticker(report, preset), should_stop=stop)
        if stop():
            raise TrainingCancelled
        model = _fit(base, result, train_part)
        if stop():
            raise TrainingCancelled
        report("evaluating", EVALUATING_FROM, f"scoring the {len(holdout):,} held-out rows")
        accuracy, f1 = scores(holdout.labels, model.predict(holdout.features), classes)
    outcome = _outcome(
        model=model, parts=(train_part, holdout), result=result, scored=(accuracy, f1),
        preset=preset, seed=seed, holdout_fraction=holdout_fraction, folds=folds,
        budget=time_budget_s, began=began)
    report("evaluating", 100.0, f"holdout accuracy {accuracy:.1%}, macro F1 {f1:.3f}")
    return outcome


def _outcome(*, model: Any, parts: tuple[TrainingRows, TrainingRows], result: SearchResult,
             scored: tuple[float, float], preset: str, seed: int, holdout_fraction: float,
             folds: int, budget: float | None, began: float) -> TrainingOutcome:
    """The outcome of a finished run: metrics, parameters, fingerprint, reference."""
    train_part, holdout = parts
    prefix, estimator = final_step(model)
    params = {prefix + k: v for k, v in fp.json_params(estimator.get_params(deep=False)).items()}
    metrics = {"accuracy": round(scored[0], 6), "f1_macro": round(scored[1], 6),
               "holdout_rows": len(holdout), **result.best.summary()}
    return TrainingOutcome(
        pipeline=model, holdout_metrics=metrics, params=params,
        search=_search_summary(result, budget) if preset == "search" else None,
        fingerprint=fp.build(train=train_part, holdout=holdout, preset=preset, params=params,
                             seed=seed, holdout_fraction=holdout_fraction, folds=folds),
        training_ids=tuple(sorted(train_part.ids)), holdout_ids=tuple(sorted(holdout.ids)),
        reference_sample=_reference(train_part, seed), seconds=time.monotonic() - began)


def reproduce(*, rows: TrainingRows, base_pipeline: Any,
              fingerprint: Mapping[str, Any]) -> Any:
    """Fit the model of ``fingerprint`` again on ``rows``, its exact training part: the
    same predictions and label revisions (checked), the same parameters and seed.

    Raises:
        TrainingDataError: ``rows`` are not the fingerprint's training set.
    """
    fp.check_same_rows(rows, fingerprint)
    model = clone(base_pipeline).set_params(**fingerprint["params"])
    with threadpool_limits(limits=1):
        model.fit(rows.features, rows.labels)
    return model
