"""The job state machine under any sequence of clicks, claims, heartbeats, cancels, finishes
and crashes (hypothesis stateful testing, SQLite and PostgreSQL): never two active jobs for
one model, a succeeded job always has its version, a job that ended (finished, cancelled or
reaped after its worker crashed) never runs again, and the store says what a model of the
rules predicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine

from db.base import utcnow
from services.retrain.jobs import (
    JobConflictError,
    LeaseLostError,
    cancel_job,
    claim_next,
    finish,
    list_jobs,
    reap_expired,
    report,
    start_retrain,
)
from tests.db.retrain.jobs_store import ANN, BOB, PER_CLASS, T0, T1, candidate, seed_models

MODELS = ("churn", "tickets")
WORKERS = ("w0", "w1", "w2")
#: Long enough that no lease ends while an example runs; a reap "later" looks past it.
LEASE = 600.0


@dataclass
class Expected:
    """What the rules predict of one job."""

    model: str
    status: str = "queued"
    worker: str | None = None
    cancel_requested: bool = False


class JobMachine(RuleBasedStateMachine):
    """Jobs of two models, three workers that may crash, and a reaper that may look later."""

    jobs = Bundle("jobs")

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.expected: dict[int, Expected] = {}
        self.ended: set[int] = set()
        self.dead: set[str] = set()
        # Earlier examples ended all their jobs (see teardown); they stay ended.
        self.before = {j.id for j in list_jobs(engine=engine, limit=10_000)}

    def _active(self, model: str) -> int | None:
        return next((i for i, e in self.expected.items()
                     if e.model == model and e.status in ("queued", "running")), None)

    @rule(target=jobs, model=st.sampled_from(MODELS), actor=st.sampled_from([ANN, BOB]))
    def start(self, model: str, actor: object) -> object:
        active = self._active(model)
        job = None
        try:
            job = start_retrain(engine=self.engine, actor=actor,  # type: ignore[arg-type]
                                model=model, start=T0, end=T1, preset="same",
                                min_per_class=PER_CLASS)
        except JobConflictError as exc:
            conflicting: int | None = exc.job.id
        else:
            conflicting = None
        if conflicting is not None:
            assert conflicting == active
            return multiple()
        assert active is None
        assert job is not None
        self.expected[job.id] = Expected(model=model)
        return job.id

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        if worker in self.dead:
            return
        queued = sorted(i for i, e in self.expected.items() if e.status == "queued")
        job = claim_next(engine=self.engine, worker_id=worker, lease_seconds=LEASE)
        if not queued:
            assert job is None
            return
        assert job is not None
        assert job.id == queued[0]
        self.expected[job.id].status, self.expected[job.id].worker = "running", worker

    def _holds(self, worker: str, job_id: int) -> bool:
        e = self.expected[job_id]
        return e.status == "running" and e.worker == worker

    @rule(worker=st.sampled_from(WORKERS), job_id=jobs,
          percent=st.floats(min_value=0, max_value=100))
    def heartbeat(self, worker: str, job_id: int, percent: float) -> None:
        if worker in self.dead:
            return
        try:
            cancel = report(engine=self.engine, job_id=job_id, worker_id=worker,
                            stage="training", percent=percent, lease_seconds=LEASE)
        except LeaseLostError:
            assert not self._holds(worker, job_id)
            return
        assert self._holds(worker, job_id)
        assert cancel is self.expected[job_id].cancel_requested

    @rule(job_id=jobs, actor=st.sampled_from([ANN, BOB]))
    def cancel(self, job_id: int, actor: object) -> None:
        job = cancel_job(engine=self.engine, actor=actor, job_id=job_id)  # type: ignore[arg-type]
        e = self.expected[job_id]
        if e.status == "queued":
            e.status = "cancelled"
            self.ended.add(job_id)
        elif e.status == "running":
            e.cancel_requested = True
        assert (job.status, job.cancel_requested or e.status != "running") == (e.status, True)

    @rule(worker=st.sampled_from(WORKERS), job_id=jobs,
          status=st.sampled_from(["succeeded", "failed", "cancelled"]))
    def end(self, worker: str, job_id: int, status: str) -> None:
        if worker in self.dead:
            return
        e = self.expected[job_id]
        version = candidate(self.engine, e.model) if status == "succeeded" else None
        try:
            finish(engine=self.engine, job_id=job_id, worker_id=worker,
                   status=status, error="" if status != "failed" else "it raised",  # type: ignore[arg-type]
                   result_version_id=version)
        except LeaseLostError:
            assert not self._holds(worker, job_id)
            return
        assert self._holds(worker, job_id)
        e.status = status
        self.ended.add(job_id)

    @rule(worker=st.sampled_from(WORKERS))
    def crash(self, worker: str) -> None:
        """The worker is killed: it never reports again (its jobs wait for the reaper)."""
        self.dead.add(worker)

    @rule(later=st.booleans())
    def reap(self, later: bool) -> None:
        now = utcnow() + timedelta(seconds=LEASE + 1 if later else 0)
        reaped = reap_expired(engine=self.engine, now=now)
        running = sorted(i for i, e in self.expected.items() if e.status == "running")
        assert sorted(reaped) == (running if later else [])
        for job_id in reaped:
            self.expected[job_id].status = "failed"
            self.ended.add(job_id)

    @invariant()
    def store_agrees(self) -> None:
        stored = {j.id: j for j in list_jobs(engine=self.engine, limit=10_000)
                  if j.id not in self.before}
        assert {i: j.status for i, j in stored.items()} == {
            i: e.status for i, e in self.expected.items()}
        for model in MODELS:
            active = [j for j in stored.values() if j.model == model and j.active]
            assert len(active) <= 1, f"two active jobs of {model}: {active}"
        for job in stored.values():
            if job.status == "succeeded":
                assert job.result_version is not None
            if job.id in self.ended:
                assert not job.active

    def teardown(self) -> None:
        """End every job, so the next example starts with none active."""
        reap_expired(engine=self.engine, now=utcnow() + timedelta(seconds=LEASE + 1))
        for job_id, e in self.expected.items():
            if e.status == "queued":
                cancel_job(engine=self.engine, actor=ANN, job_id=job_id)


def test_no_sequence_of_actions_breaks_the_job_rules(engine: Engine, tmp_path: Path) -> None:
    seed_models(engine, tmp_path, MODELS)
    run_state_machine_as_test(
        lambda: JobMachine(engine),  # type: ignore[arg-type]  # a factory works too
        settings=settings(max_examples=25, stateful_step_count=25, deadline=None))
