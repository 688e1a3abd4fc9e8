"""The pieces the exported Prometheus alerts are made of: escaped text, selectors, the
hysteresis form, and the timeline of a generated promtool test.

Shared by :mod:`services.alerts.promrules` (the store's kinds) and
:mod:`services.alerts.promserving` (the serving kinds).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.prometheus.promql import escape_label_value

__all__ = [
    "CannotJudgeError",
    "Scenario",
    "by_clause",
    "gauges",
    "number",
    "phases",
    "selector_text",
    "template_literal",
    "with_hysteresis",
    "yaml_quote",
]

_YAML_SAFE = re.compile("[\u007f-\u009f\u2028\u2029\ufeff\ud800-\udfff]")


class CannotJudgeError(Exception):
    """Prometheus cannot judge this rule; the message says why."""


def yaml_quote(text: str) -> str:
    """``text`` as a double-quoted YAML scalar: JSON's escapes, plus those YAML reads as line
    breaks or refuses (C1 controls, U+2028/9, a byte-order mark)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return _YAML_SAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def template_literal(text: str) -> str:
    """``text`` such that Prometheus' Go templating (of alert labels and annotations)
    gives it back unchanged: each ``{{`` is written as an action printing ``{{``."""
    return text.replace("{{", '{{ "{{" }}')


def number(value: float) -> str:
    """A threshold as PromQL reads it back exactly (Python's shortest round-trip form)."""
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return repr(float(value))


def selector_text(metric: str, labels: dict[str, str]) -> str:
    """``metric{a="x",b="y"}`` with the values escaped, in the order given."""
    inside = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
    return f"{metric}{{{inside}}}"


def by_clause(labels: Sequence[str]) -> str:
    """``(a, b)`` for ``by`` and ``on``; ``()`` for none."""
    return f"({', '.join(labels)})"


def with_hysteresis(alert: str, by: Sequence[str], breach: str, clear: str) -> str:
    """``breach``, or, once the alert fires, everything until ``clear``: the alert's own
    ``ALERTS`` series keeps it firing while the figure is between the two thresholds."""
    firing = selector_text("ALERTS", {"alertname": alert, "alertstate": "firing"})
    on = by_clause(by)
    return (f"(\n  {breach}\n)\nor on{on}\n(\n  max by {on} ({firing})\n"
            f"  unless on{on}\n  ({clear})\n)")


@dataclass(frozen=True)
class Scenario:
    """The input of one generated promtool test: per-minute values of each series, and
    whether the alert fires at chosen minutes."""

    series: dict[str, list[float]]
    checks: list[tuple[int, bool]]


def phases(for_seconds: int, *, low: bool, between: bool, settle: int = 0
           ) -> tuple[list[str], list[tuple[int, bool]]]:
    """Per-minute phases of a test and the checks along them.

    ``low``: breaching values on one label (or row) too few, longer than ``for``: never
    fires. ``edge``: values at the breach threshold that do not breach, longer than
    ``for``: never fires. ``breach``: just past the threshold: not firing one minute before
    ``for`` runs out, firing from then. ``between`` (when the resolve threshold differs):
    just short of clearing: keeps firing. ``clear``: at the resolve threshold: resolved.
    So a rule whose thresholds, minimum or ``for`` differ fails the checks.

    ``settle`` is the minutes a figure needs to reflect a phase whole (a rate's window):
    each phase lasts that much longer and is checked that much later.
    """
    f = math.ceil(for_seconds / 60)
    minutes: list[str] = []
    checks: list[tuple[int, bool]] = []

    def add(phase: str, length: int) -> int:
        start = len(minutes)
        minutes.extend([phase] * (length + settle))
        return start + settle

    if low:
        settled = add("low", f + 3)
        checks.append((settled + f + 2, False))
    settled = add("edge", f + 3)
    checks.append((settled + f + 2, False))
    settled = add("breach", f + 3)
    if f >= 1:
        checks.append((settled - settle + f - 1, False))
    checks += [(settled + f, True), (settled + f + 2, True)]
    if between:
        settled = add("between", 3)
        checks += [(settled, True), (settled + 2, True)]
    settled = add("clear", 3)
    checks += [(settled + 1, False), (settled + 2, False)]
    return minutes, checks


def gauges(minutes: list[str], values: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Per-minute values of each series from its value in each phase."""
    return {series: [per_phase[phase] for phase in minutes]
            for series, per_phase in values.items()}
