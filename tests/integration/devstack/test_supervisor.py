"""The launcher's process supervisor with tiny stand-in processes: start, readiness, watch,
and stopping tier by tier."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

import pytest

from devstack.processes import ServiceSpec, StartupError, Supervisor, free_loopback_port

_CHILD = """
import pathlib, signal, sys, time
name, folder = sys.argv[1], pathlib.Path(sys.argv[2])
def stop(*_):
    with (folder / "stopped.txt").open("a") as f:
        f.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN if name == "stubborn" else stop)
(folder / (name + ".up")).touch()
print(name, "up", flush=True)
while True:
    time.sleep(0.05)
"""


def _child(name: str, folder: Path, tier: int) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        argv=(sys.executable, "-c", _CHILD, name, str(folder)),
        settle_s=0.0,
        stop_tier=tier,
    )


def _wait_for(path: Path, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _supervisor(tmp_path: Path) -> Supervisor:
    return Supervisor(log_dir=tmp_path / "logs", cwd=tmp_path, env={}, out=io.StringIO())


def test_supervisor_stops_processes_tier_by_tier_and_logs_their_output(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    names = [("prometheus", 2), ("serving", 1), ("dashboard", 0), ("simulator", 0)]
    started = [sup.start(_child(name, tmp_path, tier)) for name, tier in names]
    sup.wait_ready(started)
    for name, _ in names:
        _wait_for(tmp_path / f"{name}.up")

    sup.stop_all(grace_s=5)

    stopped = (tmp_path / "stopped.txt").read_text().split()
    assert set(stopped[:2]) == {"dashboard", "simulator"}
    assert stopped[2:] == ["serving", "prometheus"]
    assert all(s.process.returncode == 0 for s in started)
    assert "serving up" in (tmp_path / "logs" / "serving.log").read_text()


@pytest.mark.parametrize("given_to", ["stop_all", "the supervisor"])
def test_a_process_ignoring_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path, given_to: str
) -> None:
    sup = _supervisor(tmp_path)
    if given_to == "the supervisor":
        sup = Supervisor(log_dir=tmp_path / "logs", cwd=tmp_path, env={}, out=io.StringIO(),
                         grace_s=0.5)
    stubborn = sup.start(_child("stubborn", tmp_path, 0))
    _wait_for(tmp_path / "stubborn.up")

    started = time.monotonic()
    if given_to == "stop_all":
        sup.stop_all(grace_s=0.5)
    else:
        sup.stop_all()

    assert stubborn.process.returncode == -9
    assert time.monotonic() - started < 5


def test_a_process_dying_during_start_up_is_reported_with_its_log(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    spec = ServiceSpec(
        name="serving",
        argv=(sys.executable, "-c", "import sys; print('no model to serve'); sys.exit(3)"),
        ready_url=f"http://127.0.0.1:{free_loopback_port()}/healthz",
    )
    service = sup.start(spec)

    with pytest.raises(StartupError) as info:
        sup.wait_ready([service])

    message = str(info.value)
    assert "serving exited with code 3" in message
    assert str(tmp_path / "logs" / "serving.log") in message
    assert "no model to serve" in message


def test_a_process_that_never_answers_times_out_naming_its_log(tmp_path: Path) -> None:
    sup = _supervisor(tmp_path)
    spec = ServiceSpec(
        name="dashboard",
        argv=(sys.executable, "-c", "import time; time.sleep(30)"),
        ready_url=f"http://127.0.0.1:{free_loopback_port()}/_stcore/health",
        ready_timeout_s=0.5,
    )
    with sup, pytest.raises(StartupError, match=r"did not answer .* within 0 s; see .*dashboard"):
        sup.wait_ready([sup.start(spec)])


def test_watch_returns_the_process_that_exited(tmp_path: Path) -> None:
    with _supervisor(tmp_path) as sup:
        sup.start(_child("serving", tmp_path, 1))
        quitter = sup.start(
            ServiceSpec(name="simulator", argv=(sys.executable, "-c", "raise SystemExit(4)"))
        )

        assert sup.watch() is quitter
        assert quitter.process.returncode == 4


def test_watch_returns_none_once_a_stop_is_requested(tmp_path: Path) -> None:
    with _supervisor(tmp_path) as sup:
        sup.start(_child("serving", tmp_path, 1))
        threading.Timer(0.3, sup.stop_event.set).start()

        assert sup.watch() is None
