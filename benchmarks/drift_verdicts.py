"""Both drift engines' verdicts in one shape, for the drift benchmark to compare: ours from
:class:`services.drift.compare.DatasetDrift`, Evidently's out of its snapshot (Evidently is
imported only when called: it lives in the benchmark's own environment)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmarks.drift_data import CATEGORICAL_COLUMNS, NUMERIC_COLUMNS
from services.drift.compare import DatasetDrift

__all__ = ["DRIFT_SHARE", "EVIDENTLY_TESTS", "Verdict", "Verdicts", "evidently_datasets",
           "evidently_report", "evidently_verdicts", "ours_verdicts"]

DRIFT_SHARE = 0.5
#: Evidently's display names of the tests our engine knows (its legacy stattests modules).
EVIDENTLY_TESTS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}
_P_VALUE_TESTS = {"ks", "chisquare", "z"}

@dataclass(frozen=True)
class Verdict:
    """One column's verdict from either engine."""

    test: str
    statistic: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class Verdicts:
    columns: dict[str, Verdict]
    drifted_columns: int
    tested_columns: int
    drifted_share: float
    drifted: bool
    notes: tuple[str, ...] = ()


def ours_verdicts(result: DatasetDrift) -> Verdicts:
    return Verdicts(
        columns={c.column: Verdict(test=c.test, statistic=math.nan if c.statistic is None
                                   else c.statistic, threshold=c.threshold, drifted=c.drifted)
                 for c in result.columns},
        drifted_columns=result.drifted_columns,
        tested_columns=result.tested,
        drifted_share=result.drifted_share,
        drifted=result.drifted,
    )


def evidently_datasets(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[Any, Any]:
    """Both frames as Evidently datasets, numeric and categorical columns named."""
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(numerical_columns=list(NUMERIC_COLUMNS),
                                categorical_columns=list(CATEGORICAL_COLUMNS))
    return (Dataset.from_pandas(reference, data_definition=definition),
            Dataset.from_pandas(current, data_definition=definition))


def evidently_report(reference: Any, current: Any) -> Any:
    """``DataDriftPreset`` with its default tests (they carry each column's verdict)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    return Report([DataDriftPreset(drift_share=DRIFT_SHARE)], include_tests=True).run(
        current_data=current, reference_data=reference)


def evidently_verdicts(snapshot: Any) -> Verdicts:
    """Per-column verdicts out of the snapshot's dict.

    ``ValueDrift`` metrics give the column, the resolved method (display name) and
    threshold, and the statistic; their tests (one per column, ``FAIL`` when the legacy
    stattest said drift) give the verdict, checked here against the statistic, threshold
    and the direction of the test. ``DriftedColumnsCount`` gives the dataset's count and
    share.
    """
    data = snapshot.dict()
    drift_metrics: dict[str, dict[str, Any]] = {}
    counted: dict[str, Any] | None = None
    for metric in data["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":ValueDrift"):
            drift_metrics[metric["id"]] = metric
        elif kind.endswith(":DriftedColumnsCount"):
            counted = metric
    if counted is None:
        raise RuntimeError("no DriftedColumnsCount in Evidently's snapshot")
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data["tests"]
              if t["metric_config"]["params"]["type"].endswith(":ValueDrift")}
    columns: dict[str, Verdict] = {}
    notes = []
    for metric_id, metric in drift_metrics.items():
        config = metric["config"]
        test = EVIDENTLY_TESTS.get(config["method"], config["method"])
        value, threshold = float(metric["value"]), float(config["threshold"])
        if metric_id not in status:
            raise RuntimeError(f"no ValueDrift test for column {config['column']!r}")
        drifted = status[metric_id] == "FAIL"
        by_rule = (value <= threshold if test == "ks" else value < threshold
                   if test in _P_VALUE_TESTS else value >= threshold)
        if drifted != by_rule:
            notes.append(f"{config['column']}: test status {status[metric_id]} but value "
                         f"{value} against threshold {threshold}")
        columns[config["column"]] = Verdict(test=test, statistic=value, threshold=threshold,
                                            drifted=drifted)
    share = float(counted["value"]["share"])
    return Verdicts(columns=columns, drifted_columns=round(counted["value"]["count"]),
                    tested_columns=len(columns), drifted_share=share,
                    drifted=share >= counted["config"].get("drift_share", DRIFT_SHARE),
                    notes=tuple(notes))
