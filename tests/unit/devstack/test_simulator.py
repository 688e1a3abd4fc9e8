"""The live traffic loop, driven by a fake clock, a fake service and a fake label store."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import ArrayLike
from sqlalchemy.exc import OperationalError

from devstack.demo.generator import LabelledRows, Scenario
from devstack.demo.labels import PendingLabel, WriteOutcome
from devstack.demo.scenarios import SCENARIOS
from devstack.demo.traffic import (
    RequestRejectedError,
    ServiceUnavailableError,
    Simulator,
)
from services.registry.features import FeatureError, validate_record


class FakeClock:
    """Time moves only when the simulator sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


@dataclass
class FakeService:
    """Answers like the inference service; logs predictions to ``stored`` after ``log_lag``."""

    clock: FakeClock
    scenarios: Sequence[Scenario]
    log_lag: float = 1.0
    down_until: float = -1.0
    requests: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    logged: dict[str, float] = field(default_factory=dict)
    features_of: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((self.clock.now(), payload))
        if self.clock.now() < self.down_until:
            raise ServiceUnavailableError("connection refused")
        scenario = next(s for s in self.scenarios if s.name == payload["model"])
        try:
            validate_record(scenario.schema(), payload["features"])
        except FeatureError as exc:
            raise RequestRejectedError(f"HTTP 422: {exc}") from None
        pid = uuid.uuid4().hex
        self.logged[pid] = self.clock.now() + self.log_lag
        self.features_of[pid] = payload["features"]
        return {
            "model": scenario.name,
            "version": 1,
            "prediction_id": pid,
            "predicted_class": scenario.class_labels[0],
            "probabilities": dict.fromkeys(scenario.class_labels, 1 / len(scenario.class_labels)),
        }


@dataclass
class FakeWriter:
    """A store that knows a prediction once the service has logged it."""

    clock: FakeClock
    service: FakeService
    fail_until: float = -1.0
    written: dict[str, tuple[str, float]] = field(default_factory=dict)
    batches: int = 0

    def write(self, labels: Sequence[PendingLabel]) -> WriteOutcome:
        self.batches += 1
        if self.clock.now() < self.fail_until:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        ok, missing = [], []
        for label in labels:
            logged_at = self.service.logged.get(label.prediction_id)
            if logged_at is None or logged_at > self.clock.now():
                missing.append(label.prediction_id)
            else:
                self.written[label.prediction_id] = (label.label, self.clock.now())
                ok.append(label.prediction_id)
        return WriteOutcome(written=tuple(ok), missing=tuple(missing))


#: Drift intensities the colour scenario was drawn at.
DRIFTS: list[float] = []


def _colour_draw(rng: np.random.Generator, n: int, drift: ArrayLike = 0.0) -> LabelledRows:
    """A tiny scenario whose true label can be read off its features."""
    colour = rng.choice(np.array(["red", "blue"], dtype=object), n)
    DRIFTS.append(float(np.asarray(drift)))
    return LabelledRows(
        features=pd.DataFrame({"colour": colour, "size": rng.random(n)}),
        labels=np.array([f"is-{c}" for c in colour], dtype=object),
    )


COLOURS = Scenario(
    name="colours",
    task="binary",
    class_labels=("is-blue", "is-red"),
    feature_schema=(
        {"name": "colour", "type": "category", "categories": ["red", "blue"]},
        {"name": "size", "type": "number"},
    ),
    description="test scenario",
    draw=_colour_draw,
    daily_volume=1,
    label_delay_hours=1.0,
    label_share=0.5,
    latency_ms=1.0,
)


def _simulator(
    scenarios: Sequence[Scenario], **options: Any
) -> tuple[Simulator, FakeClock, FakeService, FakeWriter]:
    clock = FakeClock()
    service = FakeService(clock=clock, scenarios=scenarios)
    writer = FakeWriter(clock=clock, service=service)
    settings: dict[str, Any] = {"rps": 4.0, "rng": np.random.default_rng(1)}
    settings.update(options)
    simulator = Simulator(scenarios=scenarios, send=service, writer=writer, clock=clock, **settings)
    return simulator, clock, service, writer


def test_sends_poisson_traffic_at_the_rate_per_model() -> None:
    simulator, _, service, _ = _simulator(SCENARIOS, rps=4.0)
    stats = simulator.run(duration=200.0)
    per_model = pd.Series([p["model"] for _, p in service.requests]).value_counts()
    assert set(per_model.index) == {"churn", "ticket-routing"}
    for count in per_model:
        assert 650 < count < 950  # 800 expected
    assert stats.sent == len(service.requests)


def test_requests_follow_the_schema_except_the_deliberately_invalid_ones() -> None:
    simulator, _, service, _ = _simulator(SCENARIOS, rps=20.0, invalid_share=0.02)
    stats = simulator.run(duration=100.0)
    by_name = {s.name: s for s in SCENARIOS}
    broken = 0
    for _, payload in service.requests:
        assert set(payload) == {"model", "features"}
        names = by_name[payload["model"]].feature_names
        if len(payload["features"]) == len(names) - 1:
            broken += 1
        else:
            validate_record(by_name[payload["model"]].schema(), payload["features"])
    assert broken == stats.invalid_sent == stats.rejected
    assert 40 < broken < 130  # 2 % of ~4000
    assert stats.answered == stats.sent - broken


def test_live_traffic_is_fully_drifted_by_default() -> None:
    DRIFTS.clear()
    simulator, _, _, _ = _simulator([COLOURS])
    simulator.run(duration=10.0)
    assert DRIFTS
    assert set(DRIFTS) == {1.0}


def test_true_labels_of_a_share_arrive_after_the_delay() -> None:
    simulator, _, service, writer = _simulator(
        [COLOURS], rps=10.0, label_share=0.6, label_delay=30.0
    )
    stats = simulator.run(duration=600.0)
    assert stats.labels_written == len(writer.written)
    # Labels still pending at the end are the last ~minute's.
    assert 0.5 * stats.answered < len(writer.written) < 0.65 * stats.answered
    sent_at = {pid: t - service.log_lag for pid, t in service.logged.items()}
    delays = []
    for pid, (label, written_at) in writer.written.items():
        assert label == f"is-{service.features_of[pid]['colour']}"
        delays.append(written_at - sent_at[pid])
    assert 20 < float(np.mean(delays)) < 40
    assert stats.labels_dropped == 0


def test_labels_wait_for_their_prediction_to_be_stored_then_give_up() -> None:
    simulator, _, service, writer = _simulator([COLOURS], rps=2.0, label_share=1.0, label_delay=1.0)
    service.log_lag = 20.0  # the service logs slowly: first attempts find nothing
    simulator.run(duration=60.0)
    assert writer.written
    assert simulator.stats.labels_dropped == 0
    # A service that never logs: labels are retried, then dropped after five minutes.
    service.log_lag = 1e9
    before = len(writer.written)
    simulator.run(duration=400.0)
    assert simulator.stats.labels_dropped > 0
    assert len(writer.written) - before < 100


def test_store_errors_do_not_stop_the_simulator() -> None:
    simulator, clock, _, writer = _simulator([COLOURS], rps=5.0, label_share=1.0, label_delay=1.0)
    writer.fail_until = clock.now() + 30.0
    stats = simulator.run(duration=120.0)
    assert stats.labels_written > 0
    assert writer.batches > 30


def test_backs_off_while_the_service_is_down_then_resumes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator, clock, service, _ = _simulator([COLOURS], rps=10.0)
    service.down_until = clock.now() + 60.0
    with caplog.at_level(logging.WARNING, logger="devstack.simulator"):
        stats = simulator.run(duration=120.0)
    attempts_while_down = [t for t, _ in service.requests if t < service.down_until]
    assert 4 <= len(attempts_while_down) <= 8  # 1, 2, 4, 8, 16, 30 s apart
    assert stats.unavailable == len(attempts_while_down)
    assert stats.answered > 400  # about 60 s at 10 requests/s after the outage
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings
    assert all("\n" not in w and "unavailable" in w for w in warnings)


def test_stop_event_ends_the_run_and_flushes_due_labels() -> None:
    stop = threading.Event()
    clock = FakeClock()
    service = FakeService(clock=clock, scenarios=[COLOURS], log_lag=0.0)
    writer = FakeWriter(clock=clock, service=service)

    def stopping_send(payload: dict[str, Any]) -> dict[str, Any]:
        answer = service(payload)
        if len(service.requests) >= 5:
            stop.set()
        return answer

    simulator = Simulator(
        scenarios=[COLOURS],
        send=stopping_send,
        writer=writer,
        clock=clock,
        rng=np.random.default_rng(1),
        rps=10.0,
        label_share=1.0,
        label_delay=0.0,
        stop=stop,
    )
    stats = simulator.run()
    assert stats.sent == 5
    assert len(writer.written) == 5


def test_same_rng_gives_the_same_traffic() -> None:
    first, _, service_a, _ = _simulator(SCENARIOS, rng=np.random.default_rng(3))
    second, _, service_b, _ = _simulator(SCENARIOS, rng=np.random.default_rng(3))
    first.run(duration=20.0)
    second.run(duration=20.0)
    assert service_a.requests == service_b.requests
