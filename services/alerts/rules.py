"""Alert rules: what to watch on a model, when it counts as a breach, and how loud it is.

A rule is a frozen dataclass, validated when built (a :class:`RuleError` names the field
in one line) and kept in the store as a JSON-able dict (:func:`rule_to_dict`,
:func:`rule_from_dict`). The kinds so far are model quality below a floor, traffic
stopped and a labeling backlog above a size; the drift kinds come later, once the Drift
page's day-by-day analysis can be read outside the page.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "SEVERITIES",
    "LabelBacklogRule",
    "QualityRule",
    "Rule",
    "RuleError",
    "TrafficStoppedRule",
    "rule_from_dict",
    "rule_to_dict",
]

#: Severities, mildest first.
SEVERITIES = ("info", "warning", "critical")
_PLAIN_METRICS = ("accuracy", "macro_f1")
_ACTION = re.compile(r"^(/[A-Za-z0-9_\-/]*|retrain:[A-Za-z0-9_\-]+)$")


class RuleError(ValueError):
    """A rule definition is invalid; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class _Common:
    """Fields every rule has.

    Attributes:
        name: what the operator calls it (shown in the banner and events).
        model: the registered model it watches.
        severity: ``info``, ``warning`` or ``critical``.
        for_seconds: how long a breach must hold before the rule fires (pending before).
        action: an optional link for whoever acts: a page path (``/drift``) or
            ``retrain:<preset>``.
    """

    name: str
    model: str
    severity: str = "warning"
    for_seconds: int = 0
    action: str | None = None

    def _check_common(self) -> None:
        if not self.name.strip():
            raise RuleError("name: must not be empty")
        if not self.model.strip():
            raise RuleError("model: must not be empty")
        if self.severity not in SEVERITIES:
            raise RuleError(f"severity: must be one of {', '.join(SEVERITIES)}, "
                            f"not {self.severity!r}")
        if self.for_seconds < 0:
            raise RuleError("for_seconds: must be 0 or more")
        if self.action is not None and not _ACTION.match(self.action):
            raise RuleError("action: must be a page path like /drift or retrain:<preset>, "
                            f"not {self.action!r}")


@dataclass(frozen=True, kw_only=True)
class QualityRule(_Common):
    """A quality metric below a floor over a window of labelled predictions.

    It breaches when the metric's whole interval (its upper bound) is below ``floor`` on
    at least ``min_labels`` labels, and clears when the point estimate is back at or above
    ``resolve_at`` (hysteresis: between the two, a firing rule keeps firing).

    Attributes:
        metric: ``accuracy``, ``macro_f1`` or ``recall:<class>``.
        floor: the level the metric must not fall below, in ``[0, 1]``.
        resolve_at: the level the estimate must reach again to resolve, ``>= floor``.
        window_seconds: the window of prediction time the metric is computed over.
        min_labels: fewer labels than this is never a breach.
    """

    metric: str
    floor: float
    resolve_at: float
    window_seconds: int = 86_400
    min_labels: int = 200
    kind: str = "quality_below"

    def __post_init__(self) -> None:
        self._check_common()
        if self.metric not in _PLAIN_METRICS and not (
                self.metric.startswith("recall:") and len(self.metric) > len("recall:")):
            raise RuleError("metric: must be accuracy, macro_f1 or recall:<class>, "
                            f"not {self.metric!r}")
        if not 0.0 <= self.floor <= 1.0:
            raise RuleError("floor: must be between 0 and 1")
        if not self.floor <= self.resolve_at <= 1.0:
            raise RuleError("resolve_at: must be between the floor and 1")
        if self.window_seconds < 60:
            raise RuleError("window_seconds: must be at least 60")
        if self.min_labels < 1:
            raise RuleError("min_labels: must be at least 1")


@dataclass(frozen=True, kw_only=True)
class TrafficStoppedRule(_Common):
    """No predictions for ``silence_seconds``: the model stopped being called.

    The observed value is the seconds since the newest prediction; it breaches above
    ``silence_seconds`` and clears as soon as a prediction is newer than that.
    """

    silence_seconds: int
    kind: str = "traffic_stopped"

    def __post_init__(self) -> None:
        self._check_common()
        if self.silence_seconds < 60:
            raise RuleError("silence_seconds: must be at least 60")


@dataclass(frozen=True, kw_only=True)
class LabelBacklogRule(_Common):
    """More than ``size`` predictions await a label; clears at ``resolve_size`` or fewer."""

    size: int
    resolve_size: int
    kind: str = "label_backlog_above"

    def __post_init__(self) -> None:
        self._check_common()
        if self.size < 1:
            raise RuleError("size: must be at least 1")
        if not 0 <= self.resolve_size <= self.size:
            raise RuleError("resolve_size: must be between 0 and size")


Rule = QualityRule | TrafficStoppedRule | LabelBacklogRule
_KINDS: dict[str, type[QualityRule] | type[TrafficStoppedRule] | type[LabelBacklogRule]] = {
    "quality_below": QualityRule,
    "traffic_stopped": TrafficStoppedRule,
    "label_backlog_above": LabelBacklogRule,
}


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The rule as a JSON-able dict, with its ``kind``."""
    return asdict(rule)


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """The rule a dict describes (as :func:`rule_to_dict` writes it).

    Raises:
        RuleError: unknown kind, unknown or missing field, or an invalid value.
    """
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise RuleError(f"kind: must be one of {', '.join(_KINDS)}, not {kind!r}")
    known = {f.name for f in fields(cls)}
    extra = sorted(set(data) - known)
    if extra:
        raise RuleError(f"{extra[0]}: not a field of a {kind} rule")
    try:
        return cls(**data)
    except TypeError as exc:
        missing = re.search(r"'(\w+)'", str(exc))
        field = missing.group(1) if missing else "rule"
        raise RuleError(f"{field}: missing or of the wrong type") from None
