"""The launcher's pure parts and its process supervisor (with tiny stand-in processes)."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import launcher as stack
from devstack.processes import (
    RunningService,
    ServiceSpec,
    free_loopback_port,
    port_is_free,
    shutdown_order,
    tail,
    taken_ports,
)
from devstack.specs import (
    StackPaths,
    child_env,
    dashboard_spec,
    prometheus_spec,
    scrape_target,
    serving_spec,
    simulator_spec,
    worker_spec,
)
from services.settings import PROJECT_ROOT, Settings, SettingsError


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]




# --- ports -------------------------------------------------------------------------------------


def test_a_listening_port_is_taken_and_named(listening: int) -> None:
    assert not port_is_free("127.0.0.1", listening)
    assert taken_ports("127.0.0.1", {"dashboard": listening}) == [
        f"port {listening} (dashboard) on 127.0.0.1 is already in use"
    ]


def test_a_port_held_on_every_interface_is_taken_on_loopback() -> None:
    # What Debian's own prometheus service does with 9090.
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))  # noqa: S104 (the situation under test)
        sock.listen()
        assert not port_is_free("127.0.0.1", sock.getsockname()[1])


def test_an_unused_port_is_free() -> None:
    port = free_loopback_port()
    assert port_is_free("127.0.0.1", port)
    assert taken_ports("127.0.0.1", {"dashboard": port}) == []


def test_run_demo_refuses_to_start_when_a_port_is_taken(tmp_path: Path, listening: int) -> None:
    settings = Settings(var_dir=str(tmp_path / "var"), dashboard_port=listening)
    out = io.StringIO()

    assert stack.run_demo(settings, out=out) == 1
    assert f"port {listening} (dashboard)" in out.getvalue()
    assert not (tmp_path / "var").exists()  # nothing was set up


# --- what runs -----------------------------------------------------------------------------------


def test_every_process_listens_on_loopback_only() -> None:
    settings = Settings(prometheus_port=19090, serving_port=18000, dashboard_port=18501)
    prom = prometheus_spec(
        binary="prometheus", config=Path("p.yml"), data_dir=Path("data"), port=19090
    )
    dash = dashboard_spec(settings)

    assert "--web.listen-address=127.0.0.1:19090" in prom.argv
    assert "--storage.tsdb.retention.time=30d" in prom.argv
    assert prom.ready_url == "http://127.0.0.1:19090/-/ready"
    assert dash.argv[dash.argv.index("--server.address") + 1] == "127.0.0.1"
    assert dash.argv[dash.argv.index("--server.port") + 1] == "18501"
    assert dash.argv[dash.argv.index("--server.headless") + 1] == "true"
    assert dash.argv[dash.argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert dash.ready_url == "http://127.0.0.1:18501/_stcore/health"
    assert serving_spec(settings).ready_url == "http://127.0.0.1:18000/healthz"
    wildcard = "0.0.0.0"  # noqa: S104 (asserting its absence)
    assert all(wildcard not in arg for spec in (prom, dash) for arg in spec.argv)


def test_python_processes_run_with_this_interpreter() -> None:
    settings = Settings()
    for spec in (serving_spec(settings), simulator_spec(), worker_spec(),
                 dashboard_spec(settings)):
        assert spec.argv[0] == sys.executable
    assert serving_spec(settings).argv[1:] == ("-m", "services.serving")
    assert simulator_spec().argv[1:] == ("-m", "devstack.simulator")
    assert worker_spec().argv[1:] == ("-m", "services.worker")


def test_scrape_target_reaches_a_wildcard_bind_over_loopback() -> None:
    assert scrape_target(Settings(serving_port=8123)) == "127.0.0.1:8123"
    wildcard = Settings(serving_host="0.0.0.0", serving_port=8123)  # noqa: S104
    assert scrape_target(wildcard) == "127.0.0.1:8123"


def test_child_env_is_unbuffered_and_points_at_the_local_prometheus() -> None:
    settings = Settings(var_dir="/srv/v", prometheus_port=19090)

    env = child_env(settings, {"PATH": "/bin"})

    assert env["PATH"] == "/bin"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["OPSDASH_VAR_DIR"] == "/srv/v"
    assert env["OPSDASH_PROMETHEUS_URL"] == "http://127.0.0.1:19090"


def test_child_env_keeps_an_explicit_prometheus_url() -> None:
    env = child_env(Settings(), {"OPSDASH_PROMETHEUS_URL": "http://mimir:9009/prometheus"})
    assert env["OPSDASH_PROMETHEUS_URL"] == "http://mimir:9009/prometheus"


def test_state_lives_under_the_var_folder(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path)
    assert paths.logs == tmp_path / "logs"
    assert paths.prometheus_config == tmp_path / "prometheus" / "prometheus.yml"
    assert paths.prometheus_data == tmp_path / "prometheus" / "data"


# --- shutdown order ------------------------------------------------------------------------------


def _running(name: str, tier: int, index: int) -> RunningService:
    spec = ServiceSpec(name=name, argv=("true",), stop_tier=tier)
    # Ordering reads only the spec and the index; no process is needed.
    process: Any = None
    return RunningService(spec, process=process, log_path=Path(f"{name}.log"), index=index)


def test_front_ends_stop_first_then_serving_then_prometheus() -> None:
    settings = Settings()
    tiers = {
        "prometheus": prometheus_spec(binary="p", config=Path(), data_dir=Path(), port=1),
        "serving": serving_spec(settings),
        "dashboard": dashboard_spec(settings),
        "simulator": simulator_spec(),
        "worker": worker_spec(),
    }
    started = [_running(name, spec.stop_tier, i) for i, (name, spec) in enumerate(tiers.items())]

    order = [[s.spec.name for s in tier] for tier in shutdown_order(started)]

    assert order == [["worker", "simulator", "dashboard"], ["serving"], ["prometheus"]]


def test_within_a_tier_the_last_started_stops_first() -> None:
    started = [_running("a", 0, 0), _running("b", 0, 1), _running("c", 1, 2)]
    assert [[s.spec.name for s in t] for t in shutdown_order(started)] == [["b", "a"], ["c"]]


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""


def test_tail_shows_only_the_latest_run(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("=== 10:00 starting: a\nold failure\n\n=== 11:00 starting: a\nnew failure\n")
    assert tail(log) == "new failure"


# --- command line and helpers --------------------------------------------------------------------


def test_prometheus_config_command_prints_the_scrape_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSDASH_SERVING_PORT", "8123")

    assert stack.main(["prometheus-config"]) == 0
    assert 'targets: ["127.0.0.1:8123"]' in capsys.readouterr().out


def test_bad_settings_exit_with_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPSDASH_SERVING_PORT", "eighty")

    assert stack.main(["prometheus-config"]) == 2
    assert "OPSDASH_SERVING_PORT" in capsys.readouterr().err


def test_reset_deletes_the_state_folder_but_never_the_project(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "logs").mkdir(parents=True)

    stack._reset_var_dir(var)

    assert not var.exists()
    for forbidden in (PROJECT_ROOT, PROJECT_ROOT.parent, Path("/")):
        with pytest.raises(SettingsError, match="refusing"):
            stack._reset_var_dir(forbidden)


def test_phase_timer_lists_phases_in_order() -> None:
    timer = stack.PhaseTimer()
    with timer.phase("database"):
        pass
    with timer.phase("services"):
        pass

    summary = timer.summary()
    assert summary.index("database") < summary.index("services")
    assert summary.endswith("s)")
