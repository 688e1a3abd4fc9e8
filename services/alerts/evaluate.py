"""The evaluation round the worker runs: under the ``alert-evaluator`` lease, each enabled
rule that is due by its cadence is observed, stepped through the state machine from its
stored state, and its new state, event and notifications are written in one transaction.

Exactly one worker evaluates at a time: a round first takes or renews the lease (held for
three rounds, so a worker that stops is replaced within a minute), and each rule's
transaction renews it again, so a worker whose lease ran out mid-round writes nothing more.
A rule that cannot be read, or whose source fails, is *unknown* with the reason, never
resolved. An event of a silenced rule (or model) is recorded as silenced and notifies
nobody; a ``firing`` or ``resolved`` event otherwise queues one delivery for the rule's
webhook, or the global one, which :mod:`services.alerts.outbox` sends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.base import utcnow
from db.repositories import alert_runs
from db.session import session_scope
from services.alerts.cadence import due
from services.alerts.describe import summary
from services.alerts.observe import observe
from services.alerts.outbox import ALERTMANAGER_REPEAT
from services.alerts.rules import QualityRule, Rule, RuleError, rule_from_dict
from services.alerts.sources import Sources
from services.alerts.state import Observation, RuleState, Status, Transition, step
from services.settings import Settings

__all__ = [
    "EVERY_S",
    "LEASE_NAME",
    "LEASE_SECONDS",
    "EvaluationRound",
    "RuleOutcome",
    "evaluate_due",
]

logger = logging.getLogger(__name__)

#: The lease's name in ``worker_leases``.
LEASE_NAME = "alert-evaluator"
#: Seconds between two rounds of the worker (each rule's cadence decides what runs).
EVERY_S = 15.0
#: How long a round's lease lasts: three rounds, so one slow round does not lose it.
LEASE_SECONDS = 3 * EVERY_S
#: Events that notify (when not silenced).
NOTIFYING = ("firing", "resolved")


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule's evaluation wrote.

    Attributes:
        status: the rule's status after it.
        event: the event recorded (``None``: no change).
        silenced: the event was silenced (nobody notified).
        queued: notifications queued for the event.
        message: the state's message (what was seen, or why it is unknown).
    """

    rule_id: int
    name: str
    status: str
    event: str | None
    silenced: bool
    queued: int
    message: str


@dataclass(frozen=True)
class EvaluationRound:
    """What a round did.

    Attributes:
        held: whether this holder had the lease (without it the round did nothing).
        note: one line for the log: who holds the lease, or what was evaluated.
        outcomes: the rules evaluated, by id.
        not_due: ids of enabled rules skipped because their cadence has not come.
    """

    held: bool
    note: str
    outcomes: tuple[RuleOutcome, ...] = ()
    not_due: tuple[int, ...] = ()


class _LeaseLostError(Exception):
    """The lease ran out (another worker may hold it): the round stops writing."""


def evaluate_due(*, engine: Engine, settings: Settings, holder: str,
                 now: datetime | None = None, force: bool = False,
                 sources: Sources | None = None) -> EvaluationRound:
    """Evaluate every enabled rule that is due, if ``holder`` has the evaluator's lease.

    Args:
        holder: who evaluates (the worker's host, process and task), kept in the lease.
        now: the evaluation time (a fixed one for tests; default: the clock, read anew
            for each rule).
        force: evaluate every enabled rule whatever its cadence (a rule just saved).
        sources: what rules read besides the store (Prometheus, the drift cache); the
            worker passes the one it keeps, so finished days of drift stay cached (default:
            built from ``settings`` for this round).
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    started = clock()
    with session_scope(engine, write=True) as session:
        held = alert_runs.take_lease(session=session, name=LEASE_NAME, holder=holder,
                                     now=started,
                                     until=started + timedelta(seconds=LEASE_SECONDS))
        other = None if held else alert_runs.lease_holder(session=session, name=LEASE_NAME)
    if not held:
        who, until = other if other is not None else ("another worker", started)
        return EvaluationRound(held=False, note=f"not evaluating: {who} holds the alert "
                               f"evaluator's lease until {until:%Y-%m-%d %H:%M:%S} UTC")
    with session_scope(engine) as session:
        rules = alert_runs.enabled_rules(session=session)
    if sources is None and rules:
        sources = Sources.from_settings(settings)
    outcomes: list[RuleOutcome] = []
    not_due: list[int] = []
    for row in rules:
        at = clock()
        loaded = _load(row.definition)
        if not force and not _is_due(engine, row, loaded, at):
            not_due.append(row.id)
            continue
        try:
            outcome = _evaluate_one(engine=engine, settings=settings, holder=holder,
                                    row=row, loaded=loaded, at=at, sources=sources)
        except _LeaseLostError:
            return EvaluationRound(held=False, note="stopped: the alert evaluator's lease "
                                   "ran out during the round", outcomes=tuple(outcomes),
                                   not_due=tuple(not_due))
        if outcome is not None:
            outcomes.append(outcome)
    return EvaluationRound(held=True, note=f"evaluated {len(outcomes)} rule(s), "
                           f"{len(not_due)} not due", outcomes=tuple(outcomes),
                           not_due=tuple(not_due))


def _load(definition: dict[str, Any]) -> Rule | str:
    """The rule, or why its stored definition cannot be read."""
    try:
        return rule_from_dict(definition)
    except RuleError as exc:
        return f"the rule cannot be read: {exc}"


def _is_due(engine: Engine, row: alert_runs.RuleRow, loaded: Rule | str,
            at: datetime) -> bool:
    if row.evaluated_at is None:
        return True
    newest_label = None
    if not isinstance(loaded, str) and loaded.kind == "quality_below":
        with session_scope(engine) as session:
            newest_label = alert_runs.newest_label_at(session=session, model_id=row.model_id)
    return due(loaded, evaluated_at=row.evaluated_at, at=at, newest_label=newest_label)


def _observe(engine: Engine, rule: Rule, at: datetime,
             sources: Sources | None) -> Observation:
    """What the rule sees; a source that raises is unavailable with its reason."""
    try:
        return observe(engine=engine, rule=rule, at=at, sources=sources)
    except Exception as exc:  # a failing source makes the rule unknown, never the round fail
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Observation(None, unavailable=f"the source failed: {reason}")


def _evaluate_one(*, engine: Engine, settings: Settings, holder: str,
                  row: alert_runs.RuleRow, loaded: Rule | str, at: datetime,
                  sources: Sources | None) -> RuleOutcome | None:
    """Observe one rule, then write its state, event and deliveries in one transaction;
    ``None`` when the rule was edited, disabled or deleted meanwhile (the next round
    judges it afresh)."""
    if isinstance(loaded, str):
        obs = Observation(None, unavailable=loaded)
    else:
        obs = _observe(engine, loaded, at, sources)
    message = _message(loaded, obs)
    with session_scope(engine, write=True) as session:
        if not alert_runs.hold_lease(session=session, name=LEASE_NAME, holder=holder, now=at,
                                     until=at + timedelta(seconds=LEASE_SECONDS)):
            raise _LeaseLostError
        current = alert_runs.locked_rule(session=session, rule_id=row.id)
        if current is None or not current.enabled or current.updated_at != row.updated_at:
            return None
        stored = alert_runs.state_of(session=session, rule_id=row.id)
        previous = _stored_state(stored)
        transition = _transition(loaded, previous, obs, at)
        figures = obs.figures()
        if (not _judged(loaded, obs) and stored is not None and stored.status == "firing"
                and transition.state.status is Status.FIRING):
            # Nothing to judge now (too few labels or rows yet): the figures that keep it
            # firing stay what the banner and the page show, with why nothing is newer.
            figures = {key: getattr(stored, key) for key in figures}
            kept = stored.message.split(_NEWEST)[0]
            message = f"{kept}{_NEWEST}{message.removeprefix(row.model + ' ')})"
        state = transition.state
        alert_runs.write_state(
            session=session, rule_id=row.id,
            values={"status": str(state.status), "since": state.since,
                    "fired_at": state.fired_at, "message": message, "evaluated_at": at,
                    **figures},
            clear_acknowledgement=state.status is Status.INACTIVE)
        quiet, queued = False, 0
        if transition.event is not None:
            quiet = alert_runs.silenced(session=session, rule_id=row.id,
                                        model_id=row.model_id, now=at)
            event_id = alert_runs.insert_event(
                session=session, rule_id=row.id, event=transition.event, at=at,
                figures=figures, message=message, silenced=quiet)
            if not quiet and transition.event in NOTIFYING:
                for target, fmt in _targets(row, settings):
                    alert_runs.queue_delivery(session=session, event_id=event_id,
                                              target=target, fmt=fmt, now=at)
                    queued += 1
        elif state.status is Status.FIRING:
            queued = _repeat_to_alertmanager(session, row, settings, at)
    if transition.event is not None:
        logger.info("alert %r: %s%s: %s", row.name, transition.event,
                    " (silenced)" if quiet else "", message)
    return RuleOutcome(rule_id=row.id, name=row.name, status=str(state.status),
                       event=transition.event, silenced=quiet, queued=queued,
                       message=message)


def _repeat_to_alertmanager(session: Session, row: alert_runs.RuleRow, settings: Settings,
                            at: datetime) -> int:
    """Re-queue a still-firing rule's firing notification to its Alertmanager targets
    every :data:`ALERTMANAGER_REPEAT` (Alertmanager resolves an alert it stops hearing
    about); none while the rule or its model is silenced. Returns how many were queued."""
    queued = 0
    for target, fmt in _targets(row, settings):
        if fmt != "alertmanager":
            continue
        sent = alert_runs.last_firing_sent(session=session, rule_id=row.id, target=target)
        if sent is None or (sent[1] is not None and at - sent[1] < ALERTMANAGER_REPEAT):
            continue
        if alert_runs.silenced(session=session, rule_id=row.id, model_id=row.model_id, now=at):
            return 0
        alert_runs.queue_delivery(session=session, event_id=sent[0], target=target, fmt=fmt,
                                  now=at)
        queued += 1
    return queued


#: How a kept message says what the newest look found instead.
_NEWEST = " (newest look, not judged: "


def _judged(loaded: Rule | str, obs: Observation) -> bool:
    """Whether the observation has a figure the rule judges: not when the source failed
    (that is *unknown*), there is nothing yet, or a quality figure rests on fewer labels
    than the rule's minimum."""
    if obs.unavailable is not None:
        return True
    if obs.value is None:
        return False
    return not (isinstance(loaded, QualityRule)
                and (obs.sample_size or 0) < loaded.min_labels)


def _stored_state(stored: Any) -> RuleState:
    """The state machine's view of a stored ``alert_states`` row."""
    if stored is None:
        return RuleState()
    return RuleState(Status(stored.status), stored.since, stored.fired_at)


def _transition(loaded: Rule | str, previous: RuleState, obs: Observation,
                at: datetime) -> Transition:
    if not isinstance(loaded, str):
        return step(loaded, previous, obs, at)
    # A rule that cannot be read is unknown, as step makes an unreadable source.
    if previous.status is Status.UNKNOWN:
        return Transition(previous, None)
    return Transition(RuleState(Status.UNKNOWN, at, previous.fired_at), "unknown")



def _message(loaded: Rule | str, obs: Observation) -> str:
    """One line: what was seen, or why the rule is unknown."""
    if isinstance(loaded, str):
        return loaded
    return summary(loaded, obs)


def _targets(row: alert_runs.RuleRow, settings: Settings) -> list[tuple[str, str]]:
    """Where the rule's notifications go: its own webhook, else the global one, if any."""
    if row.webhook_url:
        return [(row.webhook_url, row.webhook_format)]
    if settings.alert_webhook_url:
        return [(settings.alert_webhook_url, settings.alert_webhook_format)]
    return []
