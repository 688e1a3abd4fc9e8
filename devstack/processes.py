"""Starting, watching and stopping the local stack's processes.

The launcher (:mod:`devstack.launcher`) describes each process as a :class:`ServiceSpec`; the
:class:`Supervisor` starts them with their output in ``<log_dir>/<name>.log``, waits until each
answers its health URL, watches them, and stops them in tiers (front ends first, Prometheus
last) so that the inference service can flush its prediction log while Prometheus still runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from services.files import owner_only, private_dir
from services.worker.loop import StopFlag  # the worker's, shared: a signal handler sets it

__all__ = [
    "POLL_S",
    "STOP_GRACE_S",
    "RunningService",
    "ServiceSpec",
    "StartupError",
    "StopFlag",
    "Supervisor",
    "free_loopback_port",
    "http_ok",
    "port_is_free",
    "shutdown_order",
    "tail",
    "taken_ports",
]

#: Seconds a process gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 10.0
#: Seconds between two looks at the processes while waiting for them.
POLL_S = 0.25
_PR_SET_PDEATHSIG = 1
_RUN_MARKER = "==="


class StartupError(RuntimeError):
    """A process died or did not become ready in time; the message names its log file."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one process of the stack.

    Attributes:
        name: short name; the log file is ``<name>.log``.
        argv: the command, an argument list (never a shell string).
        ready_url: URL answering 200 once the process serves; ``None`` means "still running
            after ``settle_s`` seconds" counts as ready.
        ready_timeout_s: how long to wait for readiness before giving up.
        stop_tier: processes with a lower tier are stopped first; within a tier, the one
            started last is signalled first and the tier is awaited as a whole.
        settle_s: for processes without a ready URL, how long they must stay up.
    """

    name: str
    argv: tuple[str, ...]
    ready_url: str | None = None
    ready_timeout_s: float = 60.0
    stop_tier: int = 0
    settle_s: float = 1.0


@dataclass
class RunningService:
    """A started process, its log file and the order it was started in."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    index: int
    started_at: float = field(default_factory=time.monotonic)


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the system picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could bind ``host:port`` now (ports in TIME_WAIT count as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The servers we start set SO_REUSEADDR too, so a closed-but-lingering port is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def taken_ports(host: str, ports: Mapping[str, int]) -> list[str]:
    """One line per port in ``ports`` (``{purpose: port}``) that is already in use."""
    return [
        f"port {port} ({purpose}) on {host} is already in use"
        for purpose, port in ports.items()
        if not port_is_free(host, port)
    ]


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """Whether ``url`` answers with a 2xx status within ``timeout_s``."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (checked above)
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def shutdown_order(services: Iterable[RunningService]) -> list[list[RunningService]]:
    """Group services into the tiers they are stopped in, lowest tier first.

    Within a tier the most recently started service comes first.
    """
    tiers: dict[int, list[RunningService]] = {}
    for service in services:
        tiers.setdefault(service.spec.stop_tier, []).append(service)
    return [sorted(tiers[tier], key=lambda s: s.index, reverse=True) for tier in sorted(tiers)]


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ('' when it does not exist).

    Only lines of the latest run count: a log the supervisor appends to starts each run with
    a ``=== <time> starting: ...`` line, and nothing before the last such line is returned.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace").splitlines()
    starts = [i for i, line in enumerate(text) if line.startswith(_RUN_MARKER)]
    if starts:
        text = text[starts[-1] + 1 :]
    return "\n".join(text[-lines:])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the launcher is killed outright, the child
    # gets SIGTERM instead of living on as an orphan holding its port.
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Starts processes, waits for them, watches them and stops them.

    Args:
        log_dir: folder of the ``<name>.log`` files.
        cwd: working directory of every process.
        env: environment of every process.
        stop_event: set (e.g. by a signal handler) to abandon waiting.
        out: where progress lines are written.
        grace_s: default seconds a process gets to exit after SIGTERM (see :meth:`stop_all`).
        poll_s: seconds between two looks at the processes while waiting for them to be
            ready or to exit; tests that start stacks over and over make it shorter.
    """

    def __init__(
        self,
        *,
        log_dir: Path,
        cwd: Path,
        env: Mapping[str, str],
        stop_event: StopFlag | None = None,
        out: TextIO | None = None,
        grace_s: float = STOP_GRACE_S,
        poll_s: float = POLL_S,
    ) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.env = dict(env)
        self.stop_event = stop_event or StopFlag()
        self.out = out or sys.stdout
        self.services: list[RunningService] = []
        self.grace_s = grace_s
        self.poll_s = poll_s

    def say(self, message: str) -> None:
        """Write one progress line."""
        print(f"[opsdash] {message}", file=self.out, flush=True)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_all()

    def start(self, spec: ServiceSpec) -> RunningService:
        """Start ``spec`` in its own session with stdout and stderr in its log file."""
        private_dir(self.log_dir)
        log_path = self.log_dir / f"{spec.name}.log"
        owner_only(log_path)  # a log from before may be open to others
        log: IO[bytes]
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
                       "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n{_RUN_MARKER} {stamp} starting: {' '.join(spec.argv)}\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(spec.argv),
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal reaches only the launcher, which then
                # stops the children in order instead of all of them at once.
                start_new_session=True,
                # Safe here: the launcher starts processes from its only thread.
                preexec_fn=_die_with_parent,
            )
        service = RunningService(spec, process, log_path, index=len(self.services))
        self.services.append(service)
        return service

    def _died(self, service: RunningService) -> StartupError:
        code = service.process.returncode
        last = tail(service.log_path)
        detail = f"\n--- last lines of {service.log_path} ---\n{last}" if last else ""
        return StartupError(
            f"{service.spec.name} exited with code {code} during start-up; "
            f"see {service.log_path}{detail}"
        )

    def wait_ready(self, services: Sequence[RunningService]) -> None:
        """Block until every service in ``services`` is ready.

        Raises:
            StartupError: a service exited or missed its ready timeout.
            InterruptedError: ``stop_event`` was set while waiting.
        """
        pending = list(services)
        while pending:
            for service in list(pending):
                if service.process.poll() is not None:
                    raise self._died(service)
                spec = service.spec
                waited = time.monotonic() - service.started_at
                if spec.ready_url is None:
                    ready = waited >= spec.settle_s
                else:
                    ready = http_ok(spec.ready_url)
                if ready:
                    pending.remove(service)
                    self.say(f"{spec.name} ready after {waited:.1f} s")
                elif waited > spec.ready_timeout_s:
                    raise StartupError(
                        f"{spec.name} did not answer {spec.ready_url} within "
                        f"{spec.ready_timeout_s:.0f} s; see {service.log_path}"
                    )
            if pending and self.stop_event.wait(self.poll_s):
                raise InterruptedError("stop requested during start-up")

    def watch(self) -> RunningService | None:
        """Block until a service exits (returned) or ``stop_event`` is set (``None``)."""
        while not self.stop_event.is_set():
            for service in self.services:
                if service.process.poll() is not None:
                    return service
            self.stop_event.wait(self.poll_s * 2)
        return None

    def stop_all(self, *, grace_s: float | None = None) -> None:
        """Stop every running service tier by tier: SIGTERM, wait, then SIGKILL.

        Args:
            grace_s: seconds each tier gets to exit before it is killed; by default the
                supervisor's own ``grace_s``.
        """
        if grace_s is None:
            grace_s = self.grace_s
        for tier in shutdown_order(self.services):
            running = [s for s in tier if s.process.poll() is None]
            for service in running:
                self.say(f"stopping {service.spec.name}")
                _signal(service.process, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for service in running:
                try:
                    service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.say(f"{service.spec.name} ignored SIGTERM for {grace_s:.0f} s; killing it")
                    _signal(service.process, signal.SIGKILL)
                    service.process.wait()
        self.services.clear()


def _signal(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The child leads its own process group; signal the group so helpers it forked go too.
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        process.send_signal(sig)


def install_stop_handlers(stop_event: StopFlag, out: TextIO) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop_event``; returns a function restoring the old ones."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, _frame: object) -> None:
        if not stop_event.is_set():
            print(f"\n[opsdash] {signal.Signals(signum).name} received", file=out, flush=True)
        stop_event.set()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
