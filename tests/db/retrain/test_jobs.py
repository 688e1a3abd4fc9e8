"""Retrain jobs in the store: queued by an operator, claimed by one worker under a lease,
reporting progress, finished with the version they made; one active job per model, even
under concurrent clicks; cancelled; reaped when their worker stops answering; refused to
roles that may not retrain; audited (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import jobs as jobs_repo
from db.repositories.jobs import LOG_MAX_CHARS, LOG_MAX_LINES, hold_lease
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access import CLI, PermissionDenied, Principal, Role
from services.audit import query_audit
from services.retrain.data import TrainingDataError
from services.retrain.jobs import (
    JobConflictError,
    LeaseLostError,
    cancel_job,
    claim_next,
    finish,
    get_job,
    list_jobs,
    reap_expired,
    report,
    start_retrain,
)
from tests.db.retrain.jobs_store import ANN, BOB, PER_CLASS, T0, T1, candidate, seed_models
from tests.factories import log_predictions, make_model

LEASE = 15.0


def _start(engine: Engine, model: str = "churn", actor: Principal = ANN, **kw: object) -> int:
    args: dict[str, object] = {"preset": "same", "min_per_class": PER_CLASS} | kw
    return start_retrain(engine=engine, actor=actor, model=model, start=T0, end=T1,
                         **args).id  # type: ignore[arg-type]


def test_a_job_is_queued_claimed_reports_progress_and_finishes_with_its_version(
        engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job = start_retrain(engine=engine, actor=ANN, model="churn", start=T0, end=T1,
                        preset="search", note="after the drift", min_per_class=PER_CLASS)
    assert (job.model, job.status, job.stage, job.percent, job.preset, job.backend) == (
        "churn", "queued", "queued", 0.0, "search", "local")
    assert (job.window_start, job.window_end, job.note, job.requested_by) == (
        T0, T1, "after the drift", "ann")
    claimed = claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.started_at is not None) == (job.id, "running",
                                                                            True)
    assert claim_next(engine=engine, worker_id="w2", lease_seconds=LEASE) is None
    cancel = report(engine=engine, job_id=job.id, worker_id="w1", stage="training",
                    percent=42.5, message="search fold 3 of 40", log="fold 3 done",
                    lease_seconds=LEASE)
    assert cancel is False
    seen = get_job(engine=engine, job_id=job.id)
    assert (seen.stage, seen.percent, seen.message) == ("training", 42.5, "search fold 3 of 40")
    assert seen.log.splitlines()[-1] == "fold 3 done"
    version_id = candidate(engine, "churn")
    finish(engine=engine, job_id=job.id, worker_id="w1", status="succeeded",
           result_version_id=version_id)
    done = get_job(engine=engine, job_id=job.id)
    assert (done.status, done.stage, done.percent, done.result_version, done.active) == (
        "succeeded", "done", 100.0, 2, False)
    assert done.finished_at is not None
    assert [j.id for j in list_jobs(engine=engine, model="churn")] == [job.id]
    [entry] = query_audit(engine=engine, actor=CLI, action="retrain_requested")
    assert (entry.actor, entry.object_type, entry.object_id) == ("ann", "retrain_job",
                                                                 str(job.id))
    assert entry.details["class_counts"] == {"churns": PER_CLASS, "stays": PER_CLASS}


def test_a_job_succeeds_only_with_a_version(engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    with pytest.raises(ValueError, match="only with the version"):
        finish(engine=engine, job_id=job_id, worker_id="w1", status="succeeded")
    assert get_job(engine=engine, job_id=job_id).status == "running"


def test_a_second_job_of_a_model_names_the_one_that_runs(engine: Engine,
                                                          tmp_path: Path) -> None:
    seed_models(engine, tmp_path, ("churn", "tickets"))
    first = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    with pytest.raises(JobConflictError) as raised:
        _start(engine, actor=BOB)
    assert raised.value.job.id == first
    assert f"job {first}, running since" in str(raised.value)
    assert "started by ann" in str(raised.value)
    assert _start(engine, model="tickets") != first  # another model is not held up


def test_ten_concurrent_clicks_queue_one_job(engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)

    def click(i: int) -> int | str:
        try:
            return _start(engine, actor=Principal(username=f"op{i}", role=Role.OPERATOR))
        except JobConflictError as exc:
            return f"conflict with {exc.job.id}"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(click, range(10)))
    started = [o for o in outcomes if isinstance(o, int)]
    assert len(started) == 1
    assert sorted(o for o in outcomes if isinstance(o, str)) == [
        f"conflict with {started[0]}"] * 9
    assert [j.id for j in list_jobs(engine=engine)] == started
    assert len(query_audit(engine=engine, actor=CLI, action="retrain_requested")) == 1


def test_concurrent_workers_never_claim_the_same_job(engine: Engine, tmp_path: Path) -> None:
    names = ("churn", "tickets", "fraud")
    seed_models(engine, tmp_path, names)
    queued = {_start(engine, model=name) for name in names}

    def worker(i: int) -> list[int]:
        got = []
        while (job := claim_next(engine=engine, worker_id=f"w{i}", lease_seconds=LEASE)):
            got.append(job.id)
        return got

    with ThreadPoolExecutor(max_workers=6) as pool:
        claims = list(pool.map(worker, range(6)))
    flat = [job_id for got in claims for job_id in got]
    assert sorted(flat) == sorted(queued)  # each once, none twice
    for i, got in enumerate(claims):  # each worker holds what it claimed
        for job_id in got:
            assert report(engine=engine, job_id=job_id, worker_id=f"w{i}", stage="training",
                          percent=1, lease_seconds=LEASE) is False


def test_cancel_a_queued_job_at_once_and_a_running_one_through_its_worker(
        engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    queued = _start(engine)
    assert cancel_job(engine=engine, actor=BOB, job_id=queued).status == "cancelled"
    assert claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE) is None
    running = _start(engine)  # the cancelled job no longer holds the model
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    asked = cancel_job(engine=engine, actor=ANN, job_id=running)
    assert (asked.status, asked.cancel_requested) == ("running", True)
    assert report(engine=engine, job_id=running, worker_id="w1", stage="training",
                  percent=10, lease_seconds=LEASE) is True
    finish(engine=engine, job_id=running, worker_id="w1", status="cancelled")
    ended = get_job(engine=engine, job_id=running)
    assert (ended.status, ended.result_version) == ("cancelled", None)
    assert cancel_job(engine=engine, actor=ANN, job_id=running).status == "cancelled"
    entries = query_audit(engine=engine, actor=CLI, action="retrain_cancelled")
    assert sorted((e.actor, e.object_id, e.details["outcome"]) for e in entries) == sorted(
        [("bob", str(queued), "cancelled"), ("ann", str(running), "requested")])
    with pytest.raises(LookupError, match="no retrain job 999"):
        cancel_job(engine=engine, actor=ANN, job_id=999)


def test_a_job_whose_worker_stopped_answering_is_failed_and_lost_to_it(
        engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    report(engine=engine, job_id=job_id, worker_id="w1", stage="training", percent=30,
           lease_seconds=LEASE)
    heartbeat = get_job(engine=engine, job_id=job_id).heartbeat_at
    assert heartbeat is not None
    assert reap_expired(engine=engine, now=heartbeat + timedelta(seconds=LEASE / 2)) == []
    assert reap_expired(engine=engine, now=heartbeat + timedelta(seconds=LEASE + 1)) == [job_id]
    failed = get_job(engine=engine, job_id=job_id)
    assert failed.status == "failed"
    assert failed.error.startswith("the worker stopped answering (no heartbeat since ")
    assert failed.error.endswith("the job was not finished and registered nothing")
    with pytest.raises(LeaseLostError):
        report(engine=engine, job_id=job_id, worker_id="w1", stage="evaluating", percent=80,
               lease_seconds=LEASE)
    with pytest.raises(LeaseLostError):
        finish(engine=engine, job_id=job_id, worker_id="w1", status="succeeded",
               result_version_id=candidate(engine, "churn"))
    assert get_job(engine=engine, job_id=job_id).result_version is None
    assert claim_next(engine=engine, worker_id="w2", lease_seconds=LEASE) is None
    assert _start(engine) != job_id  # the model can be retrained again


def test_another_worker_cannot_report_or_finish_a_job_it_does_not_hold(
        engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    with pytest.raises(LeaseLostError, match="no longer worker w2's"):
        report(engine=engine, job_id=job_id, worker_id="w2", stage="training", percent=5,
               lease_seconds=LEASE)
    with pytest.raises(LeaseLostError):
        finish(engine=engine, job_id=job_id, worker_id="w2", status="failed", error="x")
    assert get_job(engine=engine, job_id=job_id).status == "running"


def test_the_log_keeps_its_newest_lines(engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    for chunk in range(3):
        report(engine=engine, job_id=job_id, worker_id="w1", stage="training", percent=chunk,
               log="\n".join(f"line {chunk * 100 + i} " + "x" * 80 for i in range(100)),
               lease_seconds=LEASE)
    log = get_job(engine=engine, job_id=job_id).log
    assert len(log) <= LOG_MAX_CHARS
    assert len(log.splitlines()) <= LOG_MAX_LINES
    assert log.splitlines()[-1].startswith("line 299 ")


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER])
def test_roles_that_may_not_retrain_are_refused(engine: Engine, tmp_path: Path,
                                                role: Role) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    who = Principal(username="cy", role=role)
    with pytest.raises(PermissionDenied, match="may not retrain"):
        _start(engine, actor=who)
    with pytest.raises(PermissionDenied, match="may not retrain"):
        cancel_job(engine=engine, actor=who, job_id=job_id)
    assert get_job(engine=engine, job_id=job_id).status == "queued"


def test_a_thin_window_is_refused_before_a_job_exists(engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    with pytest.raises(TrainingDataError, match="'churns' has 8, 'stays' has 8"):
        _start(engine, min_per_class=PER_CLASS + 1)
    with pytest.raises(TrainingDataError, match="'churns' has 0"):
        start_retrain(engine=engine, actor=ANN, model="churn", start=T1, end=T1 + (T1 - T0),
                      preset="same", min_per_class=1)
    assert list_jobs(engine=engine) == []


def test_only_a_model_whose_artifact_we_hold_retrains_here(engine: Engine) -> None:
    make_model(engine, name="elsewhere", at=utcnow())  # its artifact is not on this machine
    with pytest.raises(RegistryError, match=r"cannot be read.*hand-off"):
        _start(engine, model="elsewhere", min_per_class=1)
    with pytest.raises(RegistryError, match="no model named 'nothing'"):
        _start(engine, model="nothing")
    assert list_jobs(engine=engine) == []


def test_a_model_served_elsewhere_is_handed_off_never_claimed_here(engine: Engine) -> None:
    model_id, version_id = make_model(engine, name="elsewhere", at=utcnow())
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(T0, "stays", "stays"), (T0, "stays", "churns")])
    job = start_retrain(engine=engine, actor=ANN, model="elsewhere", start=T0, end=T1,
                        preset="same", min_per_class=1, backend="webhook")
    assert (job.status, job.backend) == ("queued", "webhook")
    assert claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE) is None
    assert get_job(engine=engine, job_id=job.id).status == "queued"


def test_registration_can_check_in_its_transaction_that_the_lease_is_held(
        engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path)
    job_id = _start(engine)
    claim_next(engine=engine, worker_id="w1", lease_seconds=LEASE)
    now = utcnow()
    with session_scope(engine, write=True) as session:
        assert hold_lease(session=session, job_id=job_id, worker_id="w1", now=now)
        assert not hold_lease(session=session, job_id=job_id, worker_id="w2", now=now)
        assert not hold_lease(session=session, job_id=job_id, worker_id="w1",
                              now=now + timedelta(seconds=LEASE + 1))
    reap_expired(engine=engine, now=now + timedelta(seconds=LEASE + 1))
    with session_scope(engine, write=True) as session:
        assert not hold_lease(session=session, job_id=job_id, worker_id="w1", now=now)


def test_the_store_refuses_a_second_active_job_even_when_the_check_missed_it(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: another click's job was committed after this one looked (both checks
    found none); the unique index refuses the insert, and the message names that job."""
    seed_models(engine, tmp_path)
    first = _start(engine)
    real = jobs_repo.active_job
    calls: list[int] = []

    def missed(**kwargs: Any) -> Any:
        calls.append(1)
        return None if len(calls) <= 2 else real(**kwargs)

    monkeypatch.setattr(jobs_repo, "active_job", missed)
    with pytest.raises(JobConflictError, match=f"job {first}, queued since") as raised:
        _start(engine, actor=BOB)
    assert raised.value.job.id == first
    assert len(calls) == 3  # the insert failed on the index, then the job was read
    assert [j.id for j in list_jobs(engine=engine)] == [first]
    assert len(query_audit(engine=engine, actor=CLI, action="retrain_requested")) == 1
