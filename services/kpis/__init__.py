"""Business figures of a model: what its outcomes are worth, what serving it costs, and its
performance estimated from its own probabilities before the labels arrive.

The estimator's names live in :mod:`services.kpis.estimate` and
:mod:`services.kpis.calibration` (imported from there)."""

from services.kpis.value import (
    CellValue,
    Money,
    ValueBreakdown,
    cost,
    cost_per_1000,
    expected_value,
    outcome_value,
    per_1000,
    value_breakdown,
)
from services.kpis.value_config import (
    ValueConfig,
    ValueConfigError,
    ValueTable,
    load_value_config,
    parse_value_config,
)

__all__ = [
    "CellValue", "Money", "ValueBreakdown", "ValueConfig", "ValueConfigError", "ValueTable",
    "cost", "cost_per_1000", "expected_value", "load_value_config", "outcome_value",
    "parse_value_config", "per_1000", "value_breakdown",
]
