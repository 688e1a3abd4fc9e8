"""Retrain jobs run by a real ``python -m services.worker`` on the demo's store: a candidate
better than version 1 on the drifted labels, and a worker killed with ``kill -9`` while
training (its job failed by the restarted worker, nothing registered, no child left);
``retrain --wait`` on the command line following a real worker to its candidate; and a
cancel stopping a running job."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select

from db.models import ModelVersion
from db.repositories import registry
from db.schema import upgrade
from db.session import make_engine, session_scope
from devstack.demo.seed import seed_demo
from devstack.demo.timeline import drift_schedule
from services.access import Principal
from services.access.roles import Role
from services.promotion.evidence import gather_evidence
from services.promotion.policy import judge, load_policy
from services.registry.artifacts import load_artifact
from services.retrain import jobs
from services.retrain.data import load_rows
from services.retrain.training import HOLDOUT_FRACTION, split_holdout
from services.settings import PROJECT_ROOT, Settings
from tests.integration.worker.test_process import _env, _worker
from tests.retrain_store import retrain_store

pytestmark = pytest.mark.integration

OPERATOR = Principal(username="olive", role=Role.OPERATOR)
LEASE_S = "3"


def _demo(tmp_path: Path, preset: jobs.Preset) -> tuple[Settings, Engine, jobs.Job]:
    """The demo's fourteen days seeded into a fresh store (about 8 s), and a retrain of
    churn queued on the drifted days (from the start of the demo's drift episode)."""
    var = tmp_path / "var"
    var.mkdir()
    settings = Settings(var_dir=str(var), database_url="")
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    seeded = seed_demo(engine=engine, settings=settings)
    assert seeded.start is not None
    assert seeded.end is not None
    episode = drift_schedule(start=seeded.start, end=seeded.end)
    job = jobs.start_retrain(engine=engine, actor=OPERATOR, model="churn",
                             start=episode.ramp_start, end=seeded.end, preset=preset,
                             note="after the drift", min_per_class=50)
    return settings, engine, job


def _wait(what: str, check: Callable[[], bool], seconds: float = 180.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie no longer runs; its new parent reaps it


def test_the_worker_retrains_churn_into_a_candidate_better_than_v1_on_the_drifted_labels(
        tmp_path: Path) -> None:
    settings, engine, job = _demo(tmp_path, "same")
    log = tmp_path / "worker.log"
    with _worker(settings, log, OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S) as worker:
        _wait("the job to end", lambda: not jobs.get_job(engine=engine, job_id=job.id).active)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0
    done = jobs.get_job(engine=engine, job_id=job.id)
    assert (done.status, done.result_version, done.error) == ("succeeded", 3, ""), done.log
    for stage in ("loading data", "training", "evaluating", "registering", "shadow scoring"):
        assert f"{stage}:" in done.log
    with session_scope(engine) as session:
        churn = registry.get_model(session=session, name="churn")
        versions = {v.version: v for v in churn.versions}
        v1, v3 = ((versions[n].artifact_path, versions[n].artifact_sha256) for n in (1, 3))
        assert (versions[1].status, versions[3].status) == ("production", "candidate")
        assert versions[3].job_id == job.id
    # The held-out newest fifth of the window: never trained on.
    rows = load_rows(engine, "churn", done.window_start, done.window_end)
    _, holdout = split_holdout(rows, HOLDOUT_FRACTION)
    accuracy = {name: float(np.mean(load_artifact(Path(path), sha).predict(holdout.features)
                                    == holdout.labels))
                for name, (path, sha) in (("v1", v1), ("v3", v3))}
    assert accuracy["v3"] > accuracy["v1"] + 0.05, accuracy
    evidence = gather_evidence(engine=engine, model="churn", candidate=3, bootstrap=200)
    assert evidence.excluded_training_rows > 0
    assert evidence.accuracy_difference.value is not None
    assert evidence.accuracy_difference.value > 0
    # The operator's next step: the promotion policy lets this candidate through.
    assert judge(evidence, load_policy(settings, "churn")).outcome == "pass"


def test_a_worker_killed_mid_training_leaves_a_failed_job_and_no_version(
        tmp_path: Path) -> None:
    settings, engine, job = _demo(tmp_path, "search")
    first, second = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    with _worker(settings, first, OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S) as worker:
        _wait("the search", lambda: "search fold" in jobs.get_job(
            engine=engine, job_id=job.id).message)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    running = jobs.get_job(engine=engine, job_id=job.id)
    found = re.search(r"training in process (\d+)", running.log)
    assert found, running.log
    child = int(found.group(1))
    # The orphan notices its worker is gone at its next report and exits.
    _wait("the orphaned training process to exit", lambda: _gone(child), seconds=60)
    with _worker(settings, second, OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S) as restarted:
        _wait("the job to be failed", lambda: not jobs.get_job(
            engine=engine, job_id=job.id).active, seconds=60)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=10) == 0
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert (failed.status, failed.result_version) == ("failed", None)
    assert "stopped answering" in failed.error
    with session_scope(engine) as session:
        churn = registry.get_model(session=session, name="churn")
        assert sorted(v.version for v in churn.versions) == [1, 2]
        assert session.scalar(select(ModelVersion.id).where(ModelVersion.job_id == job.id)) is None
    assert list(settings.resolved_artifacts_dir.glob(f"churn-job{job.id}-*")) == []


def test_retrain_wait_on_the_command_line_follows_the_worker_to_the_candidate(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    start, end, _ = retrain_store(engine, folder=tmp_path)
    env = _env(settings, OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S,
               OPSDASH_RETRAIN_MIN_PER_CLASS="5")
    with _worker(settings, tmp_path / "worker.log", OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S):
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", "retrain", "--model", "churn",
             "--since", start.isoformat(), "--until", end.isoformat(), "--note", "from the shell",
             "--wait", "--json"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=180,
            check=False)
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert (job["status"], job["result_version"], job["requested_by"]) == (
        "succeeded", 2, "cli")
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"job {job['id']}: queued")
    assert lines[-1] == f"job {job['id']}: succeeded, done 100 % ({job['message']})"


def test_cancel_stops_a_running_job_of_a_real_worker_and_keeps_nothing(
        engine: Engine, settings: Settings, tmp_path: Path) -> None:
    start, end, _ = retrain_store(engine, folder=tmp_path)
    job = jobs.start_retrain(engine=engine, actor=OPERATOR, model="churn", start=start,
                             end=end, preset="search", min_per_class=5)
    with _worker(settings, tmp_path / "worker.log", OPSDASH_RETRAIN_LEASE_SECONDS=LEASE_S):
        _wait("the job to start", lambda: jobs.get_job(
            engine=engine, job_id=job.id).status == "running")
        jobs.cancel_job(engine=engine, actor=OPERATOR, job_id=job.id)
        _wait("the job to stop", lambda: not jobs.get_job(engine=engine, job_id=job.id).active,
              seconds=60)
    ended = jobs.get_job(engine=engine, job_id=job.id)
    assert (ended.status, ended.result_version) == ("cancelled", None), ended.log
    with session_scope(engine) as session:
        churn = registry.get_model(session=session, name="churn")
        assert [v.version for v in churn.versions] == [1]
    assert list(settings.resolved_artifacts_dir.glob(f"churn-job{job.id}-*")) == []
