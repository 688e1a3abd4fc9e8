"""How every benchmark reports: its figures printed one a line and written as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from services.settings import PROJECT_ROOT

__all__ = [
    "collect_like_the_server",
    "machine",
    "page_run_in_fresh_process",
    "peak_rss_mb",
    "report",
    "rounded",
    "rss_mb",
    "sign_in_page_runs",
]


def report(figures: dict[str, Any], path: Path) -> None:
    """Write ``figures`` as JSON to ``path`` (its folder made) and print them aligned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    try:
        shown: Path = path.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        shown = path
    print(f"written to {shown}")


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPUs, load, and a pure-Python reference time."""
    began = time.perf_counter()
    sum(range(10_000_000))
    return {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
            "python_reference_s": round(time.perf_counter() - began, 4)}


def rounded(figures: dict[str, Any]) -> dict[str, Any]:
    """Seconds (``*_s``) to four decimals, ratios (``*_ratio_to_raw``) to three, other
    floats to one."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, float):
            value = round(value, 4 if key.endswith("_s") else
                          3 if key.endswith("_ratio_to_raw") else 1)
        out[key] = value
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size (``VmHWM``) in MB."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def collect_like_the_server() -> float:
    """What a Streamlit server does after every script run: a full garbage collection.

    ``AppTest``'s script runner leaves it out, so the memory of pages run there would
    grow with garbage a dashboard never keeps (each run's page namespace is a reference
    cycle). Returns the seconds it took.
    """
    import gc

    began = time.perf_counter()
    gc.collect(2)
    return time.perf_counter() - began


def rss_mb() -> float | None:
    """This process's resident set size now (``VmRSS``) in MB; ``None`` without ``/proc``."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def sign_in_page_runs(username: str, secret: str) -> None:
    """Make the pages run in this process (under AppTest) signed in as ``username``: through a
    real token signed with ``secret``, from the dashboard's own origin, as ``tests/app`` does."""
    import dashboard.auth
    from services.auth.tokens import issue_token

    token = issue_token(username=username, secret=secret, ttl_seconds=3600)
    dashboard.auth._session_cookie = lambda: token
    # The websocket handshake of a page of the dashboard itself (AppTest opens none).
    dashboard.auth._handshake_headers = lambda: {"host": "127.0.0.1:8501",
                                                 "origin": "http://127.0.0.1:8501"}


def page_run_in_fresh_process(module: str, runs: int, env: dict[str, str],
                              timeout: float) -> dict[str, Any]:
    """Run ``python -m module --page-run --runs N`` (its memory is the page's alone) and
    return the JSON object it prints last; stop the benchmark with its error if it fails."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--page-run", "--runs", str(runs)],
        cwd=PROJECT_ROOT, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the page run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
