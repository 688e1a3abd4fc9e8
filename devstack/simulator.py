"""Live demo traffic: ``python -m devstack.simulator``.

Sends requests drawn from the demo generators at full drift (the world at the end of the
seeded history) to the inference service, about 0.3 % of them deliberately invalid (well
within the 1 % error-rate SLO, so the serving alerts and the bake watch react to a real
problem, not to the demo's own noise), and writes the true label of a share of the
answered ones after a delay, as late ground truth.
The loop itself is :class:`devstack.demo.traffic.Simulator`; this module wires it to HTTP,
the store, the real clock and the process signals.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import numpy as np
import requests
from sqlalchemy.exc import SQLAlchemyError

from db.schema import SchemaError, check_schema
from db.session import make_engine
from devstack.demo.labels import StoreLabelWriter
from devstack.demo.scenarios import SCENARIOS
from devstack.demo.traffic import (
    RequestRejectedError,
    Send,
    ServiceUnavailableError,
    Simulator,
    first_line,
)
from services.files import private_umask
from services.settings import SettingsError, get_settings

__all__ = ["REQUEST_TIMEOUT_SECONDS", "EventClock", "http_sender", "main"]

logger = logging.getLogger("devstack.simulator")

#: Seconds before a request to the inference service is abandoned.
REQUEST_TIMEOUT_SECONDS = 2.0


class EventClock:
    """The real clock; sleeping ends early when ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Wait on the stop event."""
        self._stop.wait(max(seconds, 0.0))


def http_sender(base_url: str, *, timeout: float = REQUEST_TIMEOUT_SECONDS) -> Send:
    """A ``send`` that posts to ``{base_url}/predict`` with an explicit timeout."""
    session = requests.Session()
    url = f"{base_url.rstrip('/')}/predict"

    def send(payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = session.post(url, json=payload, timeout=timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailableError(f"{url}: {exc.__class__.__name__}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailableError(f"{url} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise RequestRejectedError(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceUnavailableError(f"{url} answered something that is not JSON") from exc
        return body if isinstance(body, dict) else {}

    return send


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until Ctrl-C, SIGTERM or ``--duration``; returns the exit code."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    args = _parser(settings.simulator_rps).parse_args(argv)
    engine = make_engine(settings.resolved_database_url)
    try:
        check_schema(engine)
    except SchemaError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        engine.dispose()
        return 2
    except SQLAlchemyError as exc:
        print(f"simulator: cannot reach the database: {first_line(exc)}", file=sys.stderr)
        engine.dispose()
        return 1
    # Configured after the schema check, which would otherwise log Alembic's chatter.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    scenarios = [s for s in SCENARIOS if not args.model or s.name in args.model]
    simulator = Simulator(
        scenarios=scenarios,
        send=http_sender(settings.serving_url),
        writer=StoreLabelWriter(engine),
        clock=EventClock(stop),
        rng=np.random.default_rng(),
        rps=args.rps,
        label_share=args.label_share,
        label_delay=args.label_delay,
        drift=args.drift,
        stop=stop,
    )
    logger.info(
        "sending %.1f requests/s per model (%s) to %s",
        args.rps,
        ", ".join(s.name for s in scenarios),
        settings.serving_url,
    )
    try:
        stats = simulator.run(duration=args.duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    logger.info("stopped: %s", stats.line(len(simulator.labels)))
    return 0


def _parser(default_rps: float) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.simulator",
        description="Send demo traffic to the inference service and write late ground truth.",
    )
    parser.add_argument(
        "--rps",
        type=_positive,
        default=default_rps,
        help="mean requests per second per model (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        help="seconds to run (default: until Ctrl-C or SIGTERM)",
    )
    parser.add_argument(
        "--label-share",
        type=_share,
        default=0.6,
        help="share of answered predictions that get ground truth (default: 0.6)",
    )
    parser.add_argument(
        "--label-delay",
        type=_non_negative,
        default=60.0,
        help="mean seconds until ground truth is written (default: 60)",
    )
    parser.add_argument(
        "--drift",
        type=_share,
        default=1.0,
        help="drift intensity of the traffic, 0 to 1 (default: 1, fully drifted)",
    )
    parser.add_argument(
        "--model",
        action="append",
        choices=[s.name for s in SCENARIOS],
        help="only this demo model (repeatable; default: all)",
    )
    return parser


def _number(text: str, ok: Callable[[float], bool], what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"{text} is not {what}")
    return value


def _positive(text: str) -> float:
    return _number(text, lambda v: v > 0, "a positive number")


def _non_negative(text: str) -> float:
    return _number(text, lambda v: v >= 0, "zero or more")


def _share(text: str) -> float:
    return _number(text, lambda v: 0 <= v <= 1, "between 0 and 1")


if __name__ == "__main__":
    private_umask()
    raise SystemExit(main())
