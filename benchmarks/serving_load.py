"""Benchmark: the inference service under 1, 8 and 32 concurrent clients, and its ceiling.

For each mode and each client count, starts a fresh process on a free loopback port over a
fresh SQLite store holding the demo's churn model (trained on the demo's generated data),
and lets that many clients, each on its own keep-alive connection, post single-record
``/predict`` requests one after another for ``--seconds``. Modes:

- ``batched``: ``python -m services.serving`` as shipped (micro-batching on);
- ``unbatched``: the same with ``OPSDASH_BATCH_SCORING=false`` (every request scored alone);
- ``bare``: a FastAPI endpoint that parses the body and answers without scoring, under
  the same uvicorn: the ceiling of this machine, measured in the same run.

Reported per run: answers/s, latency p50/p95/p99 (ms), errors, the process's peak RSS
(``VmHWM``), and for the service, after a clean SIGTERM shutdown, the predictions stored
against those answered (``lost``: answered ids not in the store).

Run with ``make bench-serving-load`` (or ``.venv/bin/python -m benchmarks.serving_load``).
Prints the figures and writes them as JSON to ``benchmarks/results/serving_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from benchmarks.report import machine, report, rounded
from db.models import Prediction
from db.repositories import predictions, registry
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack.demo.churn import CHURN
from devstack.demo.generator import to_records
from devstack.demo.training import TrainedModel, train_scenario
from devstack.processes import free_loopback_port
from services.registry.artifacts import save_artifact
from services.settings import PROJECT_ROOT, Settings

RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "serving_load.json"
MODES = ("batched", "unbatched", "bare")
#: Seconds one client sends requests before the clock starts (code paths loaded, caches warm).
WARMUP_SECONDS = 0.5

bare_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@bare_app.post("/predict")
async def _bare_predict(request: Request) -> JSONResponse:
    """Parse the body and answer like the service would, without a model or a store."""
    body = json.loads(await request.body())
    return JSONResponse({"model": body["model"], "version": 1,
                         "prediction_id": uuid.uuid4().hex, "predicted_class": "stays",
                         "probabilities": {"churns": 0.25, "stays": 0.75}})


@bare_app.get("/healthz")
async def _bare_health() -> dict[str, str]:
    return {"status": "ok"}


@dataclass
class Samples:
    """What the clients of one run saw."""

    latencies: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    errors: int = 0


def seed_store(var_dir: str, trained: TrainedModel) -> None:
    """A fresh store in ``var_dir`` with ``trained`` as churn's production version 1."""
    settings = Settings(var_dir=var_dir, database_url="")
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    path = Path(var_dir) / "artifacts" / "churn-1.pkl"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    sha256 = save_artifact(trained.pipeline, path)
    with session_scope(engine, write=True) as session:
        model = registry.create_model(
            session=session, name=CHURN.name, task=CHURN.task,
            class_labels=[str(c) for c in trained.pipeline.classes_],
            feature_schema=CHURN.schema())
        version = registry.add_version(session=session, model_id=model.id,
                                       artifact_path=str(path), artifact_sha256=sha256,
                                       created_by="benchmark")
        registry.set_production(session=session, model_id=model.id, version_id=version.id,
                                actor="benchmark")
    engine.dispose()


def start(mode: str, var_dir: str, port: int) -> subprocess.Popen[bytes]:
    """The process of ``mode`` on ``port``, answering ``/healthz`` with 200."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSDASH_")}
    env.update({"OPSDASH_VAR_DIR": var_dir, "PYTHONPATH": str(PROJECT_ROOT)})
    if mode == "unbatched":
        env["OPSDASH_BATCH_SCORING"] = "false"
    if mode == "bare":
        command = ["-m", "uvicorn", "benchmarks.serving_load:bare_app", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "error", "--no-access-log"]
    else:
        command = ["-m", "services.serving", "--port", str(port), "--log-level", "error"]
    process = subprocess.Popen([sys.executable, *command], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return process
        except (OSError, urllib.error.HTTPError):
            if process.poll() is not None:
                raise SystemExit(f"the {mode} process exited at start") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the {mode} process did not become healthy within 120 s")


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 answer with a ``Content-Length``: its status and body."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(port: int, bodies: list[bytes], until: float, samples: Samples) -> None:
    """Post ``bodies`` in turn on one keep-alive connection until ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    sent = 0
    try:
        while time.perf_counter() < until:
            body = bodies[sent % len(bodies)]
            sent += 1
            began = time.perf_counter()
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status, payload = await _answer(reader)
            samples.latencies.append(time.perf_counter() - began)
            if status == 200:
                samples.ids.append(json.loads(payload)["prediction_id"])
            else:
                samples.errors += 1
    except (OSError, ValueError, asyncio.IncompleteReadError):
        samples.errors += 1
    finally:
        writer.close()


async def _load(port: int, bodies: list[bytes], clients: int, seconds: float,
                samples: Samples) -> float:
    """``clients`` clients for ``seconds``; returns the seconds the run really took."""
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(_client(port, bodies[i::clients] or bodies, until, samples)
                           for i in range(clients)))
    return time.perf_counter() - began


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stored(var_dir: str, answered: list[str]) -> tuple[int, int]:
    """Rows in the store, and how many answered ids are not among them."""
    engine = make_engine(Settings(var_dir=var_dir, database_url="").resolved_database_url)
    try:
        with session_scope(engine) as session:
            rows = int(session.scalar(select(func.count()).select_from(Prediction)) or 0)
            found: set[str] = set()
            for start_at in range(0, len(answered), 5000):
                found |= predictions.stored_ids(session=session,
                                                ids=answered[start_at:start_at + 5000])
    finally:
        engine.dispose()
    return rows, len(set(answered) - found)


def run(mode: str, clients: int, seconds: float, bodies: list[bytes],
        trained: TrainedModel) -> dict[str, Any]:
    """One mode at one client count, in a fresh process over a fresh store."""
    with tempfile.TemporaryDirectory(prefix="opsdash-bench-") as var_dir:
        if mode != "bare":
            seed_store(var_dir, trained)
        port = free_loopback_port()
        process = start(mode, var_dir, port)
        warm, samples = Samples(), Samples()
        try:
            asyncio.run(_load(port, bodies, 1, WARMUP_SECONDS, warm))
            took = asyncio.run(_load(port, bodies, clients, seconds, samples))
            peak = _peak_rss_mb(process.pid)
        finally:
            process.terminate()
            exit_code = process.wait(timeout=60)
        figures = _figures(samples, took, peak)
        figures["exit_code"] = exit_code
        if mode != "bare":
            answered = warm.ids + samples.ids
            figures["answered_in_all"] = len(answered)
            figures["stored"], figures["lost"] = _stored(var_dir, answered)
    return figures


def _figures(samples: Samples, took: float, peak_rss_mb: float) -> dict[str, Any]:
    latencies_ms = sorted(1000.0 * s for s in samples.latencies) or [0.0]
    cuts = statistics.quantiles(latencies_ms, n=100) if len(latencies_ms) > 1 else (
        latencies_ms * 99)
    return {"answers": len(samples.ids), "answers_per_s": len(samples.ids) / took,
            "p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98],
            "errors": samples.errors, "peak_rss_mb": peak_rss_mb}


def request_bodies(count: int) -> list[bytes]:
    """``count`` single-record churn requests drawn from the demo's generator."""
    rows = CHURN.draw(np.random.default_rng(7), count)
    return [json.dumps({"model": CHURN.name, "features": record}).encode()
            for record in to_records(rows.features)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds a run (15)")
    parser.add_argument("--clients", default="1,8,32", help="client counts (1,8,32)")
    parser.add_argument("--modes", default=",".join(MODES), help="batched,unbatched,bare")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file to write")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        parser.error(f"--modes: unknown {', '.join(sorted(unknown))}")
    figures: dict[str, Any] = {"benchmark": "serving_load", **machine(),
                               "seconds_per_run": args.seconds}
    trained = train_scenario(CHURN, rng=np.random.default_rng(1))
    bodies = request_bodies(2000)
    for clients in (int(c) for c in args.clients.split(",")):
        for mode in modes:
            result = run(mode, clients, args.seconds, bodies, trained)
            figures.update({f"{mode}_{clients}_{k}": v for k, v in result.items()})
        figures[f"load_average_1m_after_{clients}"] = round(os.getloadavg()[0], 2)
    _ratios(figures, modes, args.clients)
    report(rounded(figures), args.output)
    return 0


def _ratios(figures: dict[str, Any], modes: list[str], clients: str) -> None:
    """Each service mode's answers/s as a percentage of the bare endpoint's, per client count."""
    if "bare" not in modes:
        return
    for count in clients.split(","):
        ceiling = figures.get(f"bare_{count}_answers_per_s") or 0.0
        for mode in modes:
            if mode != "bare" and ceiling:
                rate = figures[f"{mode}_{count}_answers_per_s"]
                figures[f"{mode}_{count}_percent_of_bare"] = 100.0 * rate / ceiling


if __name__ == "__main__":
    sys.exit(main())
