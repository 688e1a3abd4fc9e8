"""The catalogue of demo scenarios."""

from __future__ import annotations

from devstack.demo.churn import CHURN
from devstack.demo.generator import Scenario
from devstack.demo.tickets import TICKETS

__all__ = ["SCENARIOS", "get_scenario"]

#: Every demo model, in seeding order (the order also fixes each one's random stream).
SCENARIOS: tuple[Scenario, ...] = (CHURN, TICKETS)


def get_scenario(name: str) -> Scenario:
    """The demo scenario whose model is called ``name``.

    Raises:
        KeyError: no demo model has that name.
    """
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    known = ", ".join(s.name for s in SCENARIOS)
    raise KeyError(f"no demo model named {name!r} (known: {known})")
