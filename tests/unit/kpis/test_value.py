"""The money of confusion matrices and the cost of serving, against hand-worked figures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kpis import (
    Money,
    ValueConfigError,
    cost,
    cost_per_1000,
    expected_value,
    outcome_value,
    parse_value_config,
    value_breakdown,
)
from services.kpis.value_config import ValueTable
from services.quality.metrics import matrix_from_counts

CHURN_LABELS = ("active", "churned")
CHURN = ValueTable(model="churn", currency="EUR", cpu_hour=0.05, label=0.10,
                   outcomes={("churned", "churned"): 250.0, ("active", "churned"): -40.0})

TICKET_LABELS = ("account", "billing", "technical")
TICKETS = ValueTable(model="ticket-routing", currency="USD", outcomes={
    ("account", "account"): 3.0, ("billing", "billing"): 3.0, ("technical", "technical"): 3.0,
    ("technical", "account"): -12.0, ("account", "billing"): -5.0,
})


def test_a_binary_matrix_is_worth_its_cells_times_their_money() -> None:
    # rows true (active, churned), columns predicted (active, churned)
    matrix = matrix_from_counts([("active", "active", 800), ("active", "churned", 50),
                                 ("churned", "active", 30), ("churned", "churned", 120)],
                                CHURN_LABELS)
    # 800 × 0 + 50 × -40 + 30 × 0 + 120 × 250 = -2,000 + 30,000 = 28,000
    assert outcome_value(matrix, CHURN_LABELS, CHURN) == Money(28_000.0, "EUR")


def test_the_breakdown_gives_each_cell_and_the_figure_per_1000_predictions() -> None:
    matrix = np.array([[800, 50], [30, 120]], dtype=np.int64)
    breakdown = value_breakdown(matrix, CHURN_LABELS, CHURN)
    cells = {(c.true, c.predicted): (c.count, c.unit, c.total.amount) for c in breakdown.cells}
    assert cells == {("active", "active"): (800, 0, 0), ("active", "churned"): (50, -40, -2000),
                     ("churned", "active"): (30, 0, 0), ("churned", "churned"): (120, 250, 30000)}
    assert breakdown.predictions == 1000
    # 28,000 over 1,000 predictions = 28,000 per 1,000
    assert breakdown.per_1000 == Money(28_000.0, "EUR")


def test_a_multiclass_matrix_with_unset_cells_worth_nothing() -> None:
    matrix = np.array([[10, 2, 1],    # true account: 10 right, 2 to billing, 1 to technical
                       [0, 20, 0],    # true billing: all right
                       [4, 0, 6]],    # true technical: 4 to account, 6 right
                      dtype=np.int64)
    # right: (10 + 20 + 6) × 3 = 108; account→billing 2 × -5 = -10;
    # technical→account 4 × -12 = -48; account→technical (unset) 1 × 0 = 0
    # total 108 - 10 - 48 = 50 over 43 predictions: 50 × 1000 / 43 = 1,162.79...
    breakdown = value_breakdown(matrix, TICKET_LABELS, TICKETS)
    assert breakdown.total == Money(50.0, "USD")
    assert breakdown.per_1000 is not None
    assert breakdown.per_1000.amount == pytest.approx(50_000 / 43)


def test_an_expected_matrix_of_floats_is_valued_alike() -> None:
    # expected counts of 10 predictions, e.g. from probabilities summed per cell
    expected = np.array([[6.5, 0.5], [1.25, 1.75]])
    # 0.5 × -40 + 1.75 × 250 = -20 + 437.5 = 417.5; per 1,000 of 10: 41,750
    assert expected_value(expected, CHURN_LABELS, CHURN) == Money(417.5, "EUR")
    assert outcome_value(expected, CHURN_LABELS, CHURN) == Money(417.5, "EUR")
    assert value_breakdown(expected, CHURN_LABELS, CHURN).per_1000 == Money(41_750.0, "EUR")


def test_an_empty_matrix_is_worth_nothing_and_has_no_figure_per_1000() -> None:
    breakdown = value_breakdown(np.zeros((2, 2), dtype=np.int64), CHURN_LABELS, CHURN)
    assert breakdown.total == Money(0.0, "EUR")
    assert breakdown.per_1000 is None


def test_a_table_naming_another_class_is_refused() -> None:
    table = parse_value_config('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n'
                               '"stays/churns" = -40\n', origin="values.toml").for_model("churn")
    assert table is not None
    with pytest.raises(ValueConfigError, match=r'models\.churn\.outcomes\."stays/churns"'):
        outcome_value(np.eye(2, dtype=np.int64), CHURN_LABELS, table)


@pytest.mark.parametrize("matrix", [
    np.ones((3, 3)), np.ones((2,)), np.array([[1.0, -1.0], [0.0, 0.0]]),
    np.array([[1.0, np.nan], [0.0, 0.0]]),
])
def test_a_matrix_that_is_not_counts_of_these_classes_is_refused(matrix: np.ndarray) -> None:
    with pytest.raises(ValueError, match="confusion matrix"):
        outcome_value(matrix, CHURN_LABELS, CHURN)


def test_cost_is_cpu_hours_and_labels_at_their_prices() -> None:
    # 7,200 CPU seconds = 2 h × 0.05 = 0.10; 300 labels × 0.10 = 30; total 30.10
    assert cost(7200, 300, CHURN).amount == pytest.approx(30.10)
    assert cost(7200, 300, CHURN).currency == "EUR"
    # over 50,000 predictions: 30.10 × 1000 / 50,000 = 0.602 per 1,000
    per = cost_per_1000(7200, 300, CHURN, predictions=50_000)
    assert per is not None
    assert per.amount == pytest.approx(0.602)
    assert cost_per_1000(7200, 300, CHURN, predictions=0) is None


@pytest.mark.parametrize(("cpu", "labels"), [(-1.0, 0), (float("nan"), 0), (0.0, -3),
                                             (float("inf"), 0)])
def test_cost_refuses_negative_or_non_finite_inputs(cpu: float, labels: float) -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        cost(cpu, labels, CHURN)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=9, max_size=9))
def test_value_equals_the_elementwise_product_summed(counts: list[int]) -> None:
    matrix = np.array(counts, dtype=np.int64).reshape(3, 3)
    prices = np.array([[TICKETS.money(t, p) for p in TICKET_LABELS] for t in TICKET_LABELS])
    assert outcome_value(matrix, TICKET_LABELS, TICKETS).amount == pytest.approx(
        float((matrix * prices).sum()))
