"""What a backtest returns, and the replay of observations through the state machine
(shared by every kind's backtest)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.alerts.rules import Rule
from services.alerts.state import Observation, RuleState, Status, step

__all__ = ["HOUR", "Backtest", "Episode", "ceil_hour", "floor_hour", "replay"]

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Episode:
    """One firing of the rule: when it fired and when it resolved (``None``: still firing
    at the end of the replay)."""

    fired_at: datetime
    resolved_at: datetime | None
    #: The metric's estimate at the step it fired.
    value: float | None


@dataclass(frozen=True)
class Backtest:
    """What the rule would have done on ``[start, end)``.

    Attributes:
        steps: the evaluation times, with what the rule saw and its status after each.
        episodes: each firing, oldest first.
    """

    start: datetime
    end: datetime
    step_seconds: int
    steps: list[tuple[datetime, Observation, Status]] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    #: Why the history could not be replayed (Prometheus down for a serving rule), else
    #: ``None``; then there are no steps.
    unavailable: str | None = None

    @property
    def fired(self) -> int:
        """How many times the rule would have fired."""
        return len(self.episodes)

    @property
    def resolved(self) -> int:
        """How many of those firings would have resolved within the replay."""
        return sum(1 for e in self.episodes if e.resolved_at is not None)


def replay(rule: Rule, steps: list[tuple[datetime, Observation]], result: Backtest
           ) -> Backtest:
    """Run ``steps`` through the state machine into ``result`` (its steps and episodes)."""
    state = RuleState()
    for at, obs in steps:
        move = step(rule, state, obs, at)
        _record(result, move.event, at, obs)
        state = move.state
        result.steps.append((at, obs, state.status))
    return result


def _record(result: Backtest, event: str | None, at: datetime, obs: Observation) -> None:
    if event == "firing":
        result.episodes.append(Episode(fired_at=at, resolved_at=None, value=obs.value))
    elif event == "resolved" and result.episodes:
        last = result.episodes[-1]
        result.episodes[-1] = Episode(fired_at=last.fired_at, resolved_at=at, value=last.value)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR

