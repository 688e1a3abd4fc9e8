"""Alert rules: what to watch on a model, when it counts as a breach, and how loud it is.

A rule is a frozen dataclass, validated when built (a :class:`RuleError` names the field
in one line) and kept in the store as a JSON-able dict (:func:`rule_to_dict`,
:func:`rule_from_dict`). Kinds: model quality below a floor, input drift share and
prediction drift above a level, p95 latency or error rate above the SLO (from
Prometheus), traffic stopped, a labeling backlog above a size, a failed retrain job and a
bake-watch rollback. :func:`cadence_seconds` says how often the worker evaluates each kind.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "DRIFT_CADENCE_SECONDS",
    "QUALITY_SCOPES",
    "SERVING_METRICS",
    "SEVERITIES",
    "BakeRollbackRule",
    "DriftShareRule",
    "LabelBacklogRule",
    "PredictionDriftRule",
    "QualityRule",
    "RetrainFailedRule",
    "Rule",
    "RuleError",
    "ServingRule",
    "TrafficStoppedRule",
    "cadence_seconds",
    "duration_seconds",
    "rule_from_dict",
    "rule_to_dict",
]

#: Severities, mildest first.
SEVERITIES = ("info", "warning", "critical")
_PLAIN_METRICS = ("accuracy", "macro_f1")
#: Which predictions a quality rule judges: the production version's, or every version's.
QUALITY_SCOPES = ("production", "all")
#: What a serving rule reads from Prometheus.
SERVING_METRICS = ("p95_latency", "error_rate")
#: Drift rules are evaluated at most this often (their analysis is the costly one).
DRIFT_CADENCE_SECONDS = 900
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
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
        scope: ``production`` (only predictions made by the version that is production
            at the evaluation moment, from the promotion ledger: after a better version is
            promoted the rule judges it alone) or ``all`` (every version's).
    """

    metric: str
    floor: float
    resolve_at: float
    window_seconds: int = 86_400
    min_labels: int = 200
    scope: str = "production"
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
        if self.scope not in QUALITY_SCOPES:
            raise RuleError(f"scope: must be production or all, not {self.scope!r}")


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


@dataclass(frozen=True, kw_only=True)
class DriftShareRule(_Common):
    """The Drift page's share of drifted features at or above ``level`` (the page calls
    a window drifted when its share reaches the drift share).

    The share is that of the current window (the last ``window_days`` local days, today
    so far included) against the training sample of the version in production, with the
    Drift page's tests and column configuration. It clears below ``resolve_level``.
    """

    level: float
    resolve_level: float
    window_days: int = 1
    min_rows: int = 200
    kind: str = "drift_share_above"

    def __post_init__(self) -> None:
        self._check_common()
        if not 0.0 < self.level <= 1.0:
            raise RuleError("level: must be above 0 and at most 1")
        if not 0.0 < self.resolve_level <= self.level:
            raise RuleError("resolve_level: must be above 0 and at most the level")
        _check_window(self.window_days, self.min_rows)


@dataclass(frozen=True, kw_only=True)
class PredictionDriftRule(_Common):
    """The model's answers moved: the Drift page's prediction drift above ``level``.

    The value is the larger drift score of the predicted-class mix and the top-class
    probability (each tested like a feature against the production version's answers on
    its training sample; a score of 1 is the test's threshold, where the page calls the
    output drifted), over the last ``window_days`` local days (at least ``min_rows``
    predictions). It breaches at ``level`` or above and clears below ``resolve_level``.
    """

    level: float = 1.0
    resolve_level: float = 1.0
    window_days: int = 1
    min_rows: int = 200
    kind: str = "prediction_drift_above"

    def __post_init__(self) -> None:
        self._check_common()
        if not 0.0 < self.level <= 1000.0:
            raise RuleError("level: must be above 0")
        if not 0.0 < self.resolve_level <= self.level:
            raise RuleError("resolve_level: must be above 0 and at most the level")
        _check_window(self.window_days, self.min_rows)


@dataclass(frozen=True, kw_only=True)
class ServingRule(_Common):
    """The model's p95 latency (seconds) or error rate (a share) above ``threshold``,
    read from Prometheus over the last ``window`` (a PromQL duration such as ``5m``).

    Fewer than ``min_requests`` requests in the window is nothing to judge (no breach, no
    recovery). It clears at ``resolve_at`` or below. :meth:`from_slo` fills the thresholds
    from the SLO settings (``OPSDASH_SLO_LATENCY_P95_SECONDS``, ``OPSDASH_SLO_ERROR_RATE``).
    """

    metric: str
    threshold: float
    resolve_at: float
    window: str = "5m"
    min_requests: int = 20
    kind: str = "serving_above"

    def __post_init__(self) -> None:
        self._check_common()
        if self.metric not in SERVING_METRICS:
            raise RuleError(f"metric: must be p95_latency or error_rate, not {self.metric!r}")
        top = 1.0 if self.metric == "error_rate" else 3600.0
        if not 0.0 < self.threshold <= top:
            raise RuleError(f"threshold: must be above 0 and at most {top:g}")
        if not 0.0 <= self.resolve_at <= self.threshold:
            raise RuleError("resolve_at: must be between 0 and the threshold")
        if duration_seconds(self.window) < 60:
            raise RuleError("window: must be a duration like 5m or 1h, at least 1m")
        if self.min_requests < 1:
            raise RuleError("min_requests: must be at least 1")

    @classmethod
    def from_slo(cls, *, slo_latency_p95_seconds: float, slo_error_rate: float,
                 **fields_: Any) -> ServingRule:
        """A serving rule whose threshold (and resolve level, unless given) is the SLO."""
        metric = fields_["metric"]
        slo = slo_latency_p95_seconds if metric == "p95_latency" else slo_error_rate
        fields_.setdefault("threshold", slo)
        fields_.setdefault("resolve_at", fields_["threshold"])
        return cls(**fields_)


@dataclass(frozen=True, kw_only=True)
class RetrainFailedRule(_Common):
    """A retrain job of the model failed within ``window_seconds`` and no later retrain job
    of the model succeeded. The value is the failed jobs counted; it clears at 0."""

    window_seconds: int = 86_400
    kind: str = "retrain_failed"

    def __post_init__(self) -> None:
        self._check_common()
        if self.window_seconds < 60:
            raise RuleError("window_seconds: must be at least 60")


@dataclass(frozen=True, kw_only=True)
class BakeRollbackRule(_Common):
    """The bake watch rolled the model back within ``window_seconds`` (a promotion-ledger
    rollback made by the system). The value is the rollbacks counted; it clears at 0."""

    window_seconds: int = 86_400
    kind: str = "bake_rollback"

    def __post_init__(self) -> None:
        self._check_common()
        if self.window_seconds < 60:
            raise RuleError("window_seconds: must be at least 60")


def duration_seconds(text: str) -> int:
    """Seconds in a PromQL duration such as ``5m`` (0 when it is not one)."""
    found = _DURATION.match(text)
    if found is None:
        return 0
    return int(found.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[found.group(2)]


def _check_window(days: int, min_rows: int) -> None:
    if not 1 <= days <= 31:
        raise RuleError("window_days: must be between 1 and 31")
    if min_rows < 30:
        raise RuleError("min_rows: must be at least 30 (the Drift page tests no fewer)")


Rule = (QualityRule | TrafficStoppedRule | LabelBacklogRule | DriftShareRule
        | PredictionDriftRule | ServingRule | RetrainFailedRule | BakeRollbackRule)
_KINDS: dict[str, Any] = {
    "quality_below": QualityRule,
    "traffic_stopped": TrafficStoppedRule,
    "label_backlog_above": LabelBacklogRule,
    "drift_share_above": DriftShareRule,
    "prediction_drift_above": PredictionDriftRule,
    "serving_above": ServingRule,
    "retrain_failed": RetrainFailedRule,
    "bake_rollback": BakeRollbackRule,
}


def cadence_seconds(rule: Rule) -> int:
    """How often the worker evaluates ``rule``, in seconds.

    Serving, traffic, backlog, retrain and rollback rules every minute; drift rules every
    15 minutes (the analysis is costly, and finished days come from a cache). Quality
    rules are looked at every minute, but the evaluator judges one only when labels
    arrived since its last evaluation, or 15 minutes after it at the latest.
    """
    if isinstance(rule, DriftShareRule | PredictionDriftRule):
        return DRIFT_CADENCE_SECONDS
    return 60


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
        rule: Rule = cls(**data)
    except TypeError as exc:
        missing = re.search(r"'(\w+)'", str(exc))
        field = missing.group(1) if missing else "rule"
        raise RuleError(f"{field}: missing or of the wrong type") from None
    return rule
