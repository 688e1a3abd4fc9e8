"""The state machine of one rule: inactive, pending, firing or unknown, and its events.

Pure: given the previous state, an observation and ``now``, :func:`step` returns the next
state and the event to record, if any. A breach must hold for the rule's ``for_seconds``
(pending until then) before the rule fires; a firing rule resolves only when the value is
back past the separate resolve threshold; a source that cannot be read makes the rule
*unknown*, never resolved, so an outage of the source does not look like a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    QualityRule,
    RetrainFailedRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)

__all__ = ["Observation", "RuleState", "Status", "Transition", "is_breach", "is_clear", "step"]


class Status(StrEnum):
    """Where a rule stands."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RuleState:
    """A rule's status and since when (``None`` for inactive).

    ``fired_at`` is kept through *unknown*, so a rule that was firing when its source
    failed goes back to firing (not pending) when the source answers with a breach again.
    """

    status: Status = Status.INACTIVE
    since: datetime | None = None
    fired_at: datetime | None = None


@dataclass(frozen=True)
class Observation:
    """What a rule's source said at one moment.

    Attributes:
        value: the figure (a metric, a drift share or score, seconds of latency or since
            the last prediction, a share of errors, a queue size, failed jobs or
            rollbacks counted); ``None`` when there is nothing to judge (no labels yet,
            too few requests).
        interval: the figure's interval (quality rules), ``None`` otherwise.
        sample_size: labels behind the figure (quality rules), requests (serving rules),
            predictions in the window (drift rules).
        unavailable: why the source could not be read (``None``: it was read).
        detail: what the figure is about, for people: the failed job and its error, the
            versions of a rollback, the drifted outputs (empty when nothing to add).
    """

    value: float | None
    interval: tuple[float, float] | None = None
    sample_size: int | None = None
    unavailable: str | None = None
    detail: str = ""

    def figures(self) -> dict[str, float | int | None]:
        """The figures as the store keeps them (``value``, ``lower``, ``upper``,
        ``sample_size``) in a rule's state and events."""
        lower, upper = self.interval if self.interval is not None else (None, None)
        return {"value": self.value, "lower": lower, "upper": upper,
                "sample_size": self.sample_size}


@dataclass(frozen=True)
class Transition:
    """The next state and the event to record (``None``: nothing to record)."""

    state: RuleState
    event: str | None


def is_breach(rule: Rule, obs: Observation) -> bool:
    """Whether the observation breaches the rule (never on an unreadable source)."""
    if obs.unavailable is not None or obs.value is None:
        return False
    value = obs.value
    if isinstance(rule, QualityRule):
        if obs.interval is None or (obs.sample_size or 0) < rule.min_labels:
            return False
        return obs.interval[1] < rule.floor
    if isinstance(rule, TrafficStoppedRule):
        return value > rule.silence_seconds
    if isinstance(rule, LabelBacklogRule):
        return value > rule.size
    if isinstance(rule, DriftShareRule | PredictionDriftRule):
        return value >= rule.level
    if isinstance(rule, ServingRule):
        return (obs.sample_size or 0) >= rule.min_requests and value > rule.threshold
    assert isinstance(rule, RetrainFailedRule | BakeRollbackRule)
    return value >= 1


def is_clear(rule: Rule, obs: Observation) -> bool:
    """Whether a firing rule may resolve: the value is back past the resolve threshold.

    A quality rule resolves on its point estimate (a wide interval must not hide a
    recovery), but only with at least ``min_labels`` labels; a serving rule only with at
    least ``min_requests`` requests.
    """
    if obs.unavailable is not None or obs.value is None:
        return False
    value = obs.value
    if isinstance(rule, QualityRule):
        return (obs.sample_size or 0) >= rule.min_labels and value >= rule.resolve_at
    if isinstance(rule, TrafficStoppedRule):
        return value <= rule.silence_seconds
    if isinstance(rule, LabelBacklogRule):
        return value <= rule.resolve_size
    if isinstance(rule, DriftShareRule | PredictionDriftRule):
        return value < rule.resolve_level
    if isinstance(rule, ServingRule):
        return (obs.sample_size or 0) >= rule.min_requests and value <= rule.resolve_at
    assert isinstance(rule, RetrainFailedRule | BakeRollbackRule)
    return value < 1


def step(rule: Rule, previous: RuleState, obs: Observation, now: datetime) -> Transition:
    """The rule's next state after observing ``obs`` at ``now``, and the event to record.

    Events: ``pending`` (a breach began), ``firing`` (it held for ``for_seconds``),
    ``resolved`` (a firing rule cleared), ``unknown`` (the source could not be read),
    ``inactive`` (a pending breach ended before firing).
    """
    if obs.unavailable is not None:
        if previous.status is Status.UNKNOWN:
            return Transition(previous, None)
        return Transition(RuleState(Status.UNKNOWN, now, previous.fired_at), "unknown")
    if previous.status is Status.FIRING or previous.fired_at is not None:
        return _while_firing(rule, previous, obs)
    if not is_breach(rule, obs):
        if previous.status in (Status.PENDING, Status.UNKNOWN):
            return Transition(RuleState(), "inactive")
        return Transition(previous, None)
    since = previous.since if previous.status is Status.PENDING else now
    assert since is not None
    if now - since >= timedelta(seconds=rule.for_seconds):
        return Transition(RuleState(Status.FIRING, now, now), "firing")
    if previous.status is Status.PENDING:
        return Transition(previous, None)
    return Transition(RuleState(Status.PENDING, now), "pending")


def _while_firing(rule: Rule, previous: RuleState, obs: Observation) -> Transition:
    """A firing rule (or one that was firing when its source failed) stays firing until
    the value is back past the resolve threshold."""
    if is_clear(rule, obs):
        return Transition(RuleState(), "resolved")
    if previous.status is Status.FIRING:
        return Transition(previous, None)
    # Back from unknown and not clear: firing again, since it first fired.
    return Transition(RuleState(Status.FIRING, previous.fired_at, previous.fired_at), "firing")
