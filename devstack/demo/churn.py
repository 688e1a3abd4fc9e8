"""Customer churn: will a subscriber cancel in the next month? (binary)

The drift episode is a competitor's fibre offer combined with a price rise: more new,
month-to-month and fibre customers with higher bills and more support calls arrive,
and fibre customers start leaving whatever their tenure or contract — so the old
rule "long tenure and a contract keep people" stops holding.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from devstack.demo.generator import (
    FloatArray,
    LabelledRows,
    Scenario,
    as_intensity,
    blend,
    draw_binary,
    draw_categories,
)

__all__ = ["CHURN", "draw_churn"]

#: Sorted, so scikit-learn's ``classes_`` order keeps "churned" as the positive class.
CLASSES = ("active", "churned")
CONTRACTS = ("month-to-month", "one-year", "two-year")
PAYMENTS = ("credit_card", "bank_transfer", "electronic_check", "mailed_check")
INTERNET = ("dsl", "fiber", "none")

SCHEMA = (
    {"name": "tenure_months", "type": "number"},
    {"name": "monthly_charges", "type": "number"},
    {"name": "total_charges", "type": "number"},
    {"name": "support_calls", "type": "number"},
    {"name": "num_services", "type": "number"},
    {"name": "contract_type", "type": "category", "categories": list(CONTRACTS)},
    {"name": "payment_method", "type": "category", "categories": list(PAYMENTS)},
    {"name": "internet_service", "type": "category", "categories": list(INTERNET)},
)


def draw_churn(rng: np.random.Generator, n: int, drift: ArrayLike = 0.0) -> LabelledRows:
    """Draw ``n`` subscribers and whether each churns.

    Args:
        rng: source of randomness (same state, same rows).
        n: number of rows.
        drift: intensity in [0, 1], one number or one per row.
    """
    d = as_intensity(drift, n)
    contract = draw_categories(rng, CONTRACTS, (0.45, 0.30, 0.25), (0.62, 0.23, 0.15), d)
    payment = draw_categories(rng, PAYMENTS, (0.30, 0.28, 0.28, 0.14), (0.22, 0.20, 0.48, 0.10), d)
    internet = draw_categories(rng, INTERNET, (0.40, 0.42, 0.18), (0.30, 0.58, 0.12), d)
    tenure = np.clip(np.round(rng.exponential(blend(32.0, 14.0, d))), 0, 72)
    # Longer contracts go with longer tenure.
    tenure = np.clip(tenure + np.where(contract == "two-year", 12, 0), 0, 72)
    charges = np.clip(
        rng.normal(blend(64.0, 78.0, d), 22.0)
        + np.where(internet == "fiber", 14.0, 0.0)
        - np.where(internet == "none", 30.0, 0.0),
        18.0,
        125.0,
    ).round(2)
    total = (np.maximum(tenure, 1) * charges * rng.uniform(0.92, 1.05, n)).round(2)
    calls = rng.poisson(blend(1.1, 2.6, d)).astype(np.float64)
    services = (1 + rng.binomial(5, 0.42, n)).astype(np.float64)

    reference_logit = (
        -0.3
        - 0.085 * tenure
        + 0.045 * (charges - 65.0)
        + 0.75 * calls
        + _lookup(contract, CONTRACTS, (1.6, -0.6, -2.2))
        + _lookup(payment, PAYMENTS, (-0.2, -0.3, 0.9, 0.0))
        + _lookup(internet, INTERNET, (0.0, 0.5, -1.0))
        - 0.25 * services
    )
    # Half of the old rule survives; the fibre offer pulls away long-standing customers.
    drifted_logit = (
        0.5 * reference_logit
        - 2.0
        + 0.045 * tenure
        + _lookup(payment, PAYMENTS, (0.4, 0.4, -0.4, 0.2))
        + _lookup(internet, INTERNET, (-1.0, 1.6, -1.2))
    )
    logit = blend(reference_logit, drifted_logit, d)
    features = pd.DataFrame(
        {
            "tenure_months": tenure.astype(np.float64),
            "monthly_charges": charges,
            "total_charges": total,
            "support_calls": calls,
            "num_services": services,
            "contract_type": contract,
            "payment_method": payment,
            "internet_service": internet,
        }
    )
    return LabelledRows(features=features, labels=draw_binary(rng, logit, CLASSES))


def _lookup(
    values: NDArray[np.object_], categories: tuple[str, ...], effects: tuple[float, ...]
) -> FloatArray:
    """The effect of each row's category."""
    out = np.zeros(len(values))
    for category, effect in zip(categories, effects, strict=True):
        out[values == category] = effect
    return out


CHURN = Scenario(
    name="churn",
    task="binary",
    class_labels=CLASSES,
    feature_schema=SCHEMA,
    description="Will a subscriber cancel within the next month? Scored nightly and by the CRM.",
    draw=draw_churn,
    daily_volume=6500,
    # Churn is only known once the customer has (not) left: days, not hours.
    label_delay_hours=30.0,
    label_share=0.55,
    latency_ms=9.0,
)
