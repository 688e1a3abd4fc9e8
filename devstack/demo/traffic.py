"""The live demo traffic loop, free of network and database (see ``devstack.simulator``).

:class:`Simulator` sends requests drawn from the demo generators through a ``send``
callable, queues the true label of a share of the answered ones, writes due labels
through a :class:`~devstack.demo.labels.LabelWriter`, and backs off while the inference
service is unreachable. Time comes from a :class:`Clock`, so tests run it on a fake one.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from devstack.demo.generator import Scenario, to_records
from devstack.demo.labels import LabelQueue, LabelWriter

__all__ = [
    "Clock",
    "RequestRejectedError",
    "Send",
    "ServiceUnavailableError",
    "Simulator",
    "SimulatorStats",
    "first_line",
]

logger = logging.getLogger("devstack.simulator")

Send = Callable[[dict[str, Any]], dict[str, Any]]
#: Seconds between writes of due labels, and between progress lines.
FLUSH_SECONDS = 1.0
REPORT_SECONDS = 60.0
#: Longest pause after the inference service could not be reached.
MAX_BACKOFF_SECONDS = 30.0
_BATCH = 256


class ServiceUnavailableError(Exception):
    """The inference service did not answer (connection refused, timeout, 5xx)."""


class RequestRejectedError(Exception):
    """The inference service refused a request (4xx)."""


class Clock(Protocol):
    """Monotonic seconds and an interruptible sleep."""

    def now(self) -> float:
        """Current monotonic time in seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until the simulator is asked to stop."""
        ...


@dataclass
class SimulatorStats:
    """Running totals of one simulator run."""

    sent: int = 0
    answered: int = 0
    invalid_sent: int = 0
    rejected: int = 0
    unavailable: int = 0
    labels_written: int = 0
    labels_dropped: int = 0
    by_model: dict[str, int] = field(default_factory=dict)

    def line(self, pending: int) -> str:
        """One progress line."""
        return (
            f"sent {self.sent} (answered {self.answered}, rejected {self.rejected}, "
            f"invalid on purpose {self.invalid_sent}, unavailable {self.unavailable}); "
            f"labels written {self.labels_written}, pending {pending}, "
            f"dropped {self.labels_dropped}"
        )


class Simulator:
    """Poisson traffic per model, late ground truth, back-off when the service is down.

    Args:
        scenarios: the demo models to send traffic for.
        send: posts one request body and returns the answer (raises the errors above).
        writer: writes due labels to the store.
        clock: time source and sleep.
        rng: randomness of the traffic.
        rps: mean requests per second, per model.
        label_share: share of answered predictions whose true label is written later.
        label_delay: mean seconds until a true label is written.
        drift: drift intensity of the traffic (1 = as at the end of the seeded history).
        invalid_share: share of requests sent with a feature missing on purpose.
        stop: set to end :meth:`run`.
    """

    def __init__(
        self,
        *,
        scenarios: Sequence[Scenario],
        send: Send,
        writer: LabelWriter,
        clock: Clock,
        rng: np.random.Generator,
        rps: float,
        label_share: float = 0.6,
        label_delay: float = 60.0,
        drift: float = 1.0,
        invalid_share: float = 0.003,
        stop: threading.Event | None = None,
    ) -> None:
        self._scenarios = list(scenarios)
        self._send = send
        self._writer = writer
        self._clock = clock
        self._rng = rng
        self._rps = rps
        self._label_share = label_share
        self._label_delay = label_delay
        self._drift = drift
        self._invalid_share = invalid_share
        self.stop = stop or threading.Event()
        self.labels = LabelQueue()
        self.stats = SimulatorStats()
        self._rows: dict[str, list[tuple[dict[str, Any], str]]] = {}
        self._backoff = 0.0
        self._paused_until = 0.0
        self._last_rejection_log = -math.inf

    def run(self, *, duration: float | None = None) -> SimulatorStats:
        """Send traffic until ``stop`` is set or ``duration`` seconds have passed."""
        start = self._clock.now()
        deadline = None if duration is None else start + duration
        next_send = {s.name: start + self._gap() for s in self._scenarios}
        next_flush, next_report = start + FLUSH_SECONDS, start + REPORT_SECONDS
        while not self.stop.is_set():
            now = self._clock.now()
            if deadline is not None and now >= deadline:
                break
            if now >= self._paused_until:
                for scenario in self._scenarios:
                    if next_send[scenario.name] <= now:
                        self.send_one(scenario)
                        # After a pause, resume from now instead of catching up in a burst.
                        next_send[scenario.name] = max(next_send[scenario.name], now) + self._gap()
            if now >= next_flush:
                self.flush_labels()
                next_flush = now + FLUSH_SECONDS
            if now >= next_report:
                logger.info(self.stats.line(len(self.labels)))
                next_report = now + REPORT_SECONDS
            wake = min(
                max(min(next_send.values(), default=next_flush), self._paused_until),
                next_flush,
                deadline if deadline is not None else next_flush,
            )
            self._clock.sleep(wake - self._clock.now())
        self.flush_labels()
        return self.stats

    def send_one(self, scenario: Scenario) -> None:
        """Send one request for ``scenario`` and queue its true label if it was answered."""
        features, truth = self._next_row(scenario)
        invalid = bool(self._rng.random() < self._invalid_share)
        if invalid:
            features = dict(features)
            del features[str(self._rng.choice(sorted(features)))]
        self.stats.sent += 1
        self.stats.invalid_sent += invalid
        try:
            answer = self._send({"model": scenario.name, "features": features})
        except RequestRejectedError as exc:
            self.stats.rejected += 1
            now = self._clock.now()
            if not invalid and now - self._last_rejection_log >= REPORT_SECONDS:
                # Once a minute at most: a wrong model name would otherwise flood the log.
                logger.warning("request for %s rejected: %s", scenario.name, exc)
                self._last_rejection_log = now
            return
        except ServiceUnavailableError as exc:
            self.stats.unavailable += 1
            self._backoff = min(max(self._backoff * 2.0, 1.0), MAX_BACKOFF_SECONDS)
            self._paused_until = self._clock.now() + self._backoff
            logger.warning(
                "inference service unavailable (%s); retrying in %.0f s", exc, self._backoff
            )
            return
        if self._backoff:
            logger.info("inference service answers again")
            self._backoff = 0.0
        self.stats.answered += 1
        self.stats.by_model[scenario.name] = self.stats.by_model.get(scenario.name, 0) + 1
        prediction_id = answer.get("prediction_id") if isinstance(answer, dict) else None
        if invalid or not isinstance(prediction_id, str):
            return
        if self._rng.random() < self._label_share:
            delay = float(self._rng.gamma(4.0, self._label_delay / 4.0))
            self.labels.add(prediction_id=prediction_id, label=truth, due=self._clock.now() + delay)

    def flush_labels(self) -> None:
        """Write the labels that are due; keep those whose prediction is not stored yet."""
        now = self._clock.now()
        due = self.labels.pop_due(now)
        if not due:
            return
        try:
            outcome = self._writer.write(due)
        except SQLAlchemyError as exc:
            logger.warning("could not write %d labels (%s); retrying", len(due), first_line(exc))
            self.stats.labels_dropped += self.labels.retry(due, now)
            return
        self.stats.labels_written += len(outcome.written)
        missing = set(outcome.missing)
        self.stats.labels_dropped += self.labels.retry(
            [label for label in due if label.prediction_id in missing], now
        )

    def _gap(self) -> float:
        return float(self._rng.exponential(1.0 / self._rps))

    def _next_row(self, scenario: Scenario) -> tuple[dict[str, Any], str]:
        rows = self._rows.get(scenario.name)
        if not rows:
            sample = scenario.draw(self._rng, _BATCH, self._drift)
            rows = list(zip(to_records(sample.features), sample.labels.tolist(), strict=True))
            rows.reverse()
            self._rows[scenario.name] = rows
        return rows.pop()


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (database errors append the whole statement)."""
    return str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
