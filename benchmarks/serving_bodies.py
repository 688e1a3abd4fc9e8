"""Benchmark: the inference service's memory while a client sends a huge chunked body.

Starts ``python -m services.serving`` on a free loopback port over a fresh SQLite store,
then, for ``POST /predict`` and ``POST /feedback``, sends ``--mib`` MiB (1 GiB by default)
with ``Transfer-Encoding: chunked`` (no ``Content-Length``, so no size is declared up
front) and records the answer, how much the server took before it closed the connection,
and the service's resident memory (``VmRSS``) before and after and its peak (``VmHWM``).
The capped reader should answer 413 at the endpoint's limit and keep memory flat.

It also times the bounded JSON parser (:func:`services.serving.body.loads`) on the bodies
it must take in stride: a batch of 1,000 records, the largest body padded with spaces, and
8 MiB of ``[`` (refused by the depth scan before the parser runs).

Run with ``make bench-serving-bodies`` (or ``.venv/bin/python -m benchmarks.serving_bodies``).
Prints the figures and writes them as JSON to ``benchmarks/results/serving_bodies.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import machine, report, rounded
from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from services.serving import feedback
from services.serving.body import BodyError, loads
from services.serving.payload import MAX_BODY_BYTES
from services.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving_bodies.json"
TOKEN = "a-benchmark-feedback-token"  # noqa: S105  (a throwaway service's)
CHUNK = 64 * 1024
MIB = 1024 * 1024


def start_service(var_dir: str, port: int, root: Path = PROJECT_ROOT) -> subprocess.Popen[bytes]:
    """The service of the code under ``root`` over a fresh store in ``var_dir``, ready."""
    settings = Settings(var_dir=var_dir, database_url="")
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({"OPSDASH_VAR_DIR": var_dir, "OPSDASH_FEEDBACK_TOKEN": TOKEN,
                "PYTHONPATH": str(root)})
    process = subprocess.Popen(
        [sys.executable, "-m", "services.serving", "--port", str(port), "--log-level", "error"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the inference service exited at start") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the inference service did not answer within 120 s")


def memory_mb(pid: int, field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} for process {pid}")


def send_chunked(port: int, path: str, mib: int) -> dict[str, Any]:
    """Send ``mib`` MiB of spaces chunked to ``path``, stopping if the server closes."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()
    frame = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
    sent = 0
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        try:
            sock.sendall(head)
            for _ in range(mib * MIB // CHUNK):
                sock.sendall(frame)
                sent += CHUNK
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(65536)  # the status line first
        except ConnectionResetError:
            answer = b""
        answered = time.perf_counter() - began
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/") else None
    return {"status": status, "client_sent_mib": round(sent / MIB, 1),
            "answer_after_s": answered}


def body_run(port: int, pid: int, path: str, mib: int) -> dict[str, Any]:
    """One huge chunked body to ``path``: the answer and the service's memory around it."""
    before, peak_before = memory_mb(pid, "VmRSS"), memory_mb(pid, "VmHWM")
    sent = send_chunked(port, path, mib)
    return {"path": path, "mib_offered": mib, **sent, "rss_before_mb": before,
            "rss_after_mb": memory_mb(pid, "VmRSS"), "peak_rss_before_mb": peak_before,
            "peak_rss_after_mb": memory_mb(pid, "VmHWM")}


def _median_s(parse: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        with contextlib.suppress(BodyError):
            parse()
        times.append(time.perf_counter() - began)
    return round(statistics.median(times), 4)


def parse_costs(runs: int) -> dict[str, float]:
    """Median seconds of :func:`loads` on bodies it should handle quickly."""
    record = {"tenure": 12, "spend": 40.5, "plan": "pro"}
    batch = json.dumps({"model": "churn", "instances": [record] * 1000}).encode()
    single = json.dumps({"model": "churn", "features": record}).encode()
    padded = single + b" " * (MAX_BODY_BYTES - len(single))
    brackets = b"[" * MAX_BODY_BYTES
    return {
        "parse_batch_1000_s": _median_s(lambda: loads(batch), runs),
        "parse_8_mib_padded_single_s": _median_s(lambda: loads(padded), runs),
        "refuse_8_mib_of_brackets_s": _median_s(lambda: loads(brackets), runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB offered per body (1024)")
    parser.add_argument("--runs", type=int, default=7, help="runs of each parse timing (7)")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"benchmark": "serving_bodies", **machine(),
                               "predict_limit_bytes": MAX_BODY_BYTES,
                               "feedback_limit_bytes": feedback.MAX_BODY_BYTES}
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as tmp:
        port = free_loopback_port()
        process = start_service(tmp, port)
        try:
            for path in ("/predict", "/feedback"):
                run = body_run(port, process.pid, path, args.mib)
                name = path.strip("/")
                figures.update({f"{name}_{k}": v for k, v in run.items() if k != "path"})
        finally:
            process.terminate()
            process.wait(timeout=30)
    figures.update(parse_costs(args.runs))
    report(rounded(figures), RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
