"""Support-ticket routing: which team should handle a new ticket? (multi-class)

The drift episode is the launch of a new mobile app with in-app payments: app and
payment tickets flood in through chat at all hours, and their meaning changes — payment
problems are now app bugs for the technical team, and app tickets are mostly sign-in
trouble for the account team — so the learned area→team routing goes wrong.
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
    draw_categories,
    draw_softmax,
)

__all__ = ["TICKETS", "draw_tickets"]

#: Sorted, so scikit-learn's ``classes_`` order is this order.
CLASSES = ("account", "billing", "shipping", "technical")
TIERS = ("free", "standard", "premium", "enterprise")
CHANNELS = ("email", "chat", "phone", "web_form")
AREAS = ("invoices", "payments", "mobile_app", "web_app", "login", "orders", "delivery")

SCHEMA = (
    {"name": "message_length", "type": "number"},
    {"name": "num_attachments", "type": "number"},
    {"name": "hour_of_day", "type": "number"},
    {"name": "previous_tickets", "type": "number"},
    {"name": "customer_tier", "type": "category", "categories": list(TIERS)},
    {"name": "channel", "type": "category", "categories": list(CHANNELS)},
    {"name": "product_area", "type": "category", "categories": list(AREAS)},
)

# Affinity of each product area to each team (columns in CLASSES order).
_REFERENCE_AREA = np.array(
    [
        [-0.5, 3.2, -0.5, -1.0],  # invoices → billing
        [0.0, 2.8, -1.0, 0.6],  # payments → billing
        [0.4, -1.0, -1.0, 2.6],  # mobile_app → technical
        [0.3, -0.8, -1.0, 2.7],  # web_app → technical
        [3.0, -0.5, -1.5, 0.6],  # login → account
        [-0.4, 0.5, 2.6, -0.8],  # orders → shipping
        [-1.0, -0.6, 3.4, -1.0],  # delivery → shipping
    ]
)
_DRIFTED_AREA = np.array(
    [
        [-0.5, 2.8, -0.5, -0.6],  # invoices → billing
        [-0.5, 1.7, -1.5, 2.3],  # payments → often technical (in-app payment bugs)
        [2.0, -0.6, -1.0, 1.7],  # mobile_app → often account (sign-in with the new app)
        [0.3, -0.8, -1.0, 2.7],  # web_app → technical
        [2.6, -0.5, -1.5, 1.2],  # login → account
        [-0.4, 1.4, 2.3, -0.8],  # orders → shipping, more often billing (refunds)
        [-1.0, -0.6, 3.4, -1.0],  # delivery → shipping
    ]
)


def draw_tickets(rng: np.random.Generator, n: int, drift: ArrayLike = 0.0) -> LabelledRows:
    """Draw ``n`` support tickets and the team each belongs to.

    Args:
        rng: source of randomness (same state, same rows).
        n: number of rows.
        drift: intensity in [0, 1], one number or one per row.
    """
    d = as_intensity(drift, n)
    area = draw_categories(
        rng,
        AREAS,
        (0.16, 0.12, 0.12, 0.14, 0.14, 0.16, 0.16),
        (0.10, 0.18, 0.24, 0.10, 0.12, 0.13, 0.13),
        d,
    )
    channel = draw_categories(rng, CHANNELS, (0.42, 0.22, 0.18, 0.18), (0.22, 0.52, 0.10, 0.16), d)
    tier = draw_categories(rng, TIERS, (0.35, 0.40, 0.18, 0.07), (0.50, 0.32, 0.13, 0.05), d)
    # Office hours at first; the app's new overseas users write at night.
    night = rng.random(n) < blend(0.08, 0.35, d)
    hour = np.where(
        night,
        rng.integers(0, 24, n),
        np.clip(np.round(rng.normal(13.0, 3.0, n)), 7, 21),
    ).astype(np.float64)
    length = np.round(
        rng.lognormal(np.log(blend(420.0, 260.0, d)) + np.where(channel == "email", 0.4, 0.0), 0.6)
    ).clip(15, 5000)
    attachments = rng.poisson(np.where(channel == "email", 1.1, 0.3)).astype(np.float64)
    previous = rng.poisson(blend(1.5, 0.8, d)).astype(np.float64)

    area_index = _index_of(area, AREAS)
    logits = blend(_REFERENCE_AREA[area_index], _DRIFTED_AREA[area_index], d[:, None])
    logits = logits + _columns(
        account=0.5 * (tier == "enterprise") + 0.15 * previous,
        billing=0.3 * (channel == "phone") - 0.2 * attachments,
        shipping=0.3 * (channel == "web_form"),
        technical=0.45 * attachments + 0.6 * (np.log(length) - 6.0) + 0.3 * night,
    )
    features = pd.DataFrame(
        {
            "message_length": length,
            "num_attachments": attachments,
            "hour_of_day": hour,
            "previous_tickets": previous,
            "customer_tier": tier,
            "channel": channel,
            "product_area": area,
        }
    )
    return LabelledRows(features=features, labels=draw_softmax(rng, logits, CLASSES))


def _index_of(values: NDArray[np.object_], categories: tuple[str, ...]) -> NDArray[np.intp]:
    index = np.zeros(len(values), dtype=np.intp)
    for i, category in enumerate(categories):
        index[values == category] = i
    return index


def _columns(**effects: ArrayLike) -> FloatArray:
    """Per-class additive effects stacked in :data:`CLASSES` order."""
    return np.column_stack([np.asarray(effects[c], dtype=np.float64) for c in CLASSES])


TICKETS = Scenario(
    name="ticket-routing",
    task="multiclass",
    class_labels=CLASSES,
    feature_schema=SCHEMA,
    description="Routes each new support ticket to the team that should handle it.",
    draw=draw_tickets,
    daily_volume=5000,
    # Agents re-route a wrongly routed ticket within hours.
    label_delay_hours=4.0,
    label_share=0.6,
    latency_ms=14.0,
)
