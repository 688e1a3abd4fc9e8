"""Launcher of the local stack: ``python -m devstack demo`` (what ``make demo`` runs).

Steps: check the ports, migrate the store, seed the demo (idempotent), backfill Prometheus with
the demo's history when its data folder is still empty, then start Prometheus, the inference
service, the simulator, the worker and the dashboard on loopback, print the dashboard URL and
supervise them until Ctrl-C or SIGTERM, when they are stopped front ends first and Prometheus last.
State lives under the settings' ``var_dir``; process output goes to ``<var_dir>/logs``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from devstack.backfill import backfill_prometheus
from devstack.processes import (
    StartupError,
    StopFlag,
    Supervisor,
    install_stop_handlers,
    tail,
    taken_ports,
)
from devstack.prometheus_config import render_config
from devstack.specs import (
    LOOPBACK,
    StackPaths,
    child_env,
    dashboard_spec,
    scrape_target,
    serving_spec,
    simulator_spec,
    start_prometheus,
    with_worker_metrics,
    worker_spec,
    worker_target,
)
from services.files import secure_tree
from services.redact import redact_urls
from services.settings import PROJECT_ROOT, Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["PhaseTimer", "backfill_prometheus", "main", "run_demo"]

_SETUP_HINT = "run `make setup` (it installs Debian's prometheus package)"


class PhaseTimer:
    """Wall-clock seconds of each start-up phase, in order."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as phase ``name``."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.phases.append((name, time.monotonic() - start))

    def summary(self) -> str:
        """``12.3 s (database 0.2 s, ...)``."""
        total = time.monotonic() - self.started
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.phases)
        return f"{total:.1f} s ({parts})"


def _reset_var_dir(var_dir: Path) -> None:
    resolved = var_dir.resolve()
    forbidden = {Path("/"), Path.home().resolve(), *PROJECT_ROOT.parents, PROJECT_ROOT}
    if resolved in forbidden:
        raise SettingsError(f"refusing to delete {resolved}: set OPSDASH_VAR_DIR to a state folder")
    if resolved.exists():
        shutil.rmtree(resolved)


def _prepare_data(
    settings: Settings, paths: StackPaths, promtool: str, timer: PhaseTimer, say: _Say
) -> list[str]:
    """Migrate, seed, backfill, create the demo accounts; returns how to sign in."""
    with timer.phase("loading code"):
        from db.schema import upgrade
        from db.session import make_engine
        from devstack.demo.seed import seed_demo

    # One "now" for the seeded history and the backfill, so their ends coincide.
    now = datetime.now(UTC)
    engine = make_engine(settings.resolved_database_url)
    try:
        with timer.phase("database"):
            upgrade(engine)
        with timer.phase("demo data"):
            report = seed_demo(engine=engine, settings=settings, now=now)
        if report.skipped:
            say("demo data already present; keeping it")
        else:
            say(
                f"seeded models {', '.join(report.models)}: {report.predictions} predictions, "
                f"{report.labels} labels, {report.alert_rules} alert rules"
            )
            if report.start is not None:
                with timer.phase("alert history"):
                    events = _replay_alerts(engine, settings, start=report.start, end=now)
                say(f"replayed the alert rules over the seeded history: {events} events")
        if not paths.prometheus_data.exists() or not any(paths.prometheus_data.iterdir()):
            with timer.phase("backfill"):
                samples = backfill_prometheus(
                    engine=engine,
                    paths=paths,
                    instance=scrape_target(settings),
                    promtool=promtool,
                    end=now if not report.skipped else datetime.now(UTC),
                )
            say(f"backfilled Prometheus with {samples} samples of demo history")
        else:
            say("Prometheus already has data; no backfill")
        with timer.phase("accounts"):
            return _demo_accounts(engine, settings)
    finally:
        engine.dispose()


def _demo_accounts(engine: Engine, settings: Settings) -> list[str]:
    """Create the demo's cookie secret and one account per role; lines saying how to sign in."""
    from services.auth.demo import demo_accounts_path, ensure_demo_users
    from services.auth.tokens import ensure_demo_secret

    ensure_demo_secret(settings)
    accounts = ensure_demo_users(engine=engine, settings=settings)
    lines = ["sign in with one of these demo accounts:"]
    for name, role, password in accounts:
        shown = password or f"unknown (python -m services.cli users set-password {name})"
        lines.append(f"  user {name:<9} password {shown}   (role {role})")
    lines.append(f"the accounts are also listed in {demo_accounts_path(settings)}")
    return lines


class _Say:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, message: str) -> None:
        print(f"[opsdash] {message}", file=self.out, flush=True)


def _run_services(
    settings: Settings,
    paths: StackPaths,
    prometheus: str,
    timer: PhaseTimer,
    out: TextIO,
    signin: Sequence[str] = (),
) -> int:
    say = _Say(out)
    stop = StopFlag()
    restore = install_stop_handlers(stop, out)
    supervisor = Supervisor(
        log_dir=paths.logs,
        cwd=PROJECT_ROOT,
        env=child_env(settings, os.environ),
        stop_event=stop,
        out=out,
    )
    try:
        with supervisor:
            with timer.phase("services"):
                prom = start_prometheus(
                    supervisor, paths=paths, port=settings.prometheus_port, binary=prometheus,
                    target=scrape_target(settings), worker=worker_target(settings))
                serving = supervisor.start(serving_spec(settings))
                dashboard = supervisor.start(dashboard_spec(settings))
                supervisor.wait_ready([prom, serving])
                simulator = supervisor.start(simulator_spec())
                worker = supervisor.start(worker_spec())
                supervisor.wait_ready([dashboard, simulator, worker])
            say(f"start-up took {timer.summary()}")
            say(f"logs: {paths.logs}/<process>.log")
            say(f"Prometheus: http://{LOOPBACK}:{settings.prometheus_port}")
            say(f"inference service: http://{scrape_target(settings)}")
            say(f"worker figures: http://{worker_target(settings)}/metrics")
            say(f"dashboard: http://{LOOPBACK}:{settings.dashboard_port}")
            for line in signin:
                say(line)
            say("press Ctrl-C to stop everything")
            exited = supervisor.watch()
            if exited is not None:
                say(
                    f"{exited.spec.name} exited unexpectedly with code {exited.process.returncode}"
                    f"; stopping the rest. See {exited.log_path}:\n{tail(exited.log_path)}"
                )
                return 1
        say("stopped")
        return 0
    except StartupError as exc:
        say(f"start-up failed: {redact_urls(str(exc))}")
        return 1
    except InterruptedError:
        say("stopped during start-up")
        return 0
    finally:
        restore()


def run_demo(settings: Settings, *, reset: bool = False, out: TextIO | None = None) -> int:
    """Prepare the demo data and run the whole stack until Ctrl-C or SIGTERM.

    Returns:
        The process exit code: 0 after a requested stop, 1 when something failed.
    """
    out = out or sys.stdout
    say = _Say(out)
    timer = PhaseTimer()
    settings = with_worker_metrics(
        settings.replace(var_dir=str(Path(settings.var_dir).resolve())))
    paths = StackPaths(Path(settings.var_dir))
    problems = taken_ports(
        LOOPBACK, {"Prometheus": settings.prometheus_port, "dashboard": settings.dashboard_port,
                   "worker metrics": settings.worker_metrics_port}
    )
    problems += taken_ports(settings.serving_host, {"inference service": settings.serving_port})
    if problems:
        for line in problems:
            say(line)
        say(
            "is the demo already running? Stop what holds the port, or choose other ports with "
            "OPSDASH_PROMETHEUS_PORT, OPSDASH_SERVING_PORT, OPSDASH_DASHBOARD_PORT and "
            "OPSDASH_WORKER_METRICS_PORT"
        )
        if any("(Prometheus)" in line for line in problems):
            say(
                "Debian's own prometheus service listens on 9090 once started; "
                "`sudo systemctl disable --now prometheus` stops it for good"
            )
        return 1
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        say(f"prometheus or promtool not found on PATH: {_SETUP_HINT}")
        return 1
    if reset:
        say(f"deleting {paths.var_dir}")
        _reset_var_dir(paths.var_dir)
    paths.logs.mkdir(parents=True, exist_ok=True)
    try:
        signin = _prepare_data(settings, paths, promtool, timer, say)
    except StartupError as exc:
        say(f"start-up failed: {redact_urls(str(exc))}")
        return 1
    return _run_services(settings, paths, prometheus, timer, out, signin)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the local opsdash stack (Prometheus, inference service, simulator, "
        "worker, dashboard) on loopback. Settings come from OPSDASH_* variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="seed the demo, start every process, stop them all on Ctrl-C"
    )
    demo.add_argument(
        "--reset", action="store_true", help="delete the state folder (var/) first and start over"
    )
    commands.add_parser(
        "prometheus-config", help="print the Prometheus configuration the stack runs with"
    )
    seed = commands.add_parser(
        "seed-demo", help="train the demo models and log 14 days of demo history (once)"
    )
    seed.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _replay_alerts(engine: Engine, settings: Settings, *, start: datetime,
                   end: datetime) -> int:
    """The seeded history's alert events and states, as if the worker had run all along
    (serving rules are left to the worker: Prometheus has no history yet)."""
    from services.alerts.replay import replay_history
    from services.alerts.sources import Sources

    return replay_history(engine=engine, sources=Sources.from_settings(settings),
                          start=start, end=end)


def _seed_demo(settings: Settings, *, as_json: bool) -> int:
    """``seed-demo``: seed the demo into a migrated store (once) and say what was done."""
    from db.schema import SchemaError, check_schema
    from db.session import make_engine
    from devstack.demo.seed import seed_demo

    engine = make_engine(settings.resolved_database_url)
    started = time.perf_counter()
    try:
        check_schema(engine)
        report = seed_demo(engine=engine, settings=settings)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    result = {"models": list(report.models), "predictions": report.predictions,
              "labels": report.labels, "skipped": report.skipped,
              "alert_rules": report.alert_rules,
              "seconds": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(result, indent=2))
    elif report.skipped:
        print("demo data already present; nothing seeded (remove var/ to start over)")
    else:
        print(f"seeded {', '.join(report.models)}: {report.predictions:,} predictions, "
              f"{report.labels:,} labels, {report.alert_rules} alert rules in "
              f"{result['seconds']} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        settings = get_settings()
        if args.command == "prometheus-config":
            settings = with_worker_metrics(settings)
            print(render_config(scrape_target=scrape_target(settings),
                                worker_target=worker_target(settings)), end="")
            return 0
        secure_tree(Path(settings.var_dir))  # files of an earlier run open to others
        if args.command == "seed-demo":
            return _seed_demo(settings, as_json=args.json)
        return run_demo(settings, reset=args.reset)
    except SettingsError as exc:
        print(f"opsdash: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n[opsdash] interrupted", file=sys.stderr)
        return 130
