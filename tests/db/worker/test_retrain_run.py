"""A retrain job run to its end in this process, as the worker's training child runs it:
the candidate it registers, and what a failure, a cancel or a lost lease leave behind
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, select

from db.base import utcnow
from db.models import AuditLog, ModelVersion, ShadowPrediction, VersionTrainingRow
from db.repositories import registry
from db.repositories import retrain_results as results
from db.repositories.predictions import insert_predictions
from db.session import session_scope
from services.promotion.evidence import gather_evidence
from services.registry.artifacts import load_artifact, sha256_of
from services.retrain import jobs
from services.retrain.data import load_rows
from services.retrain.progress import Reporter
from services.retrain.runner import JobResult, run_job
from services.retrain.training import HOLDOUT_FRACTION, split_holdout
from tests.retrain_store import OPERATOR, drifted_label, retrain_store
from tests.serving_models import logged_row

LEASE_S = 30.0
#: What the registry calls a version serving production (``set_production`` marks it).
V1_STATUS = "production"
WORKER = "test-host:1:abcd"


def _claimed(engine: Engine, folder: Path, **start: object) -> tuple[jobs.Job, list[str]]:
    begin, end, ids = retrain_store(engine, folder=folder)
    jobs.start_retrain(engine=engine, actor=OPERATOR, model="churn", start=begin, end=end,
                       preset="same", note="after the drift", min_per_class=5, **start)
    job = jobs.claim_next(engine=engine, worker_id=WORKER, lease_seconds=LEASE_S)
    assert job is not None
    return job, ids


def _run(engine: Engine, job: jobs.Job, artifacts: Path,
         reporter: Reporter | None = None) -> JobResult:
    reporter = reporter or Reporter(engine=engine, job_id=job.id, worker_id=WORKER,
                                    lease_seconds=LEASE_S, min_interval_s=0.0)
    return run_job(engine=engine, job=job, reporter=reporter, artifacts_dir=artifacts)


def _versions(engine: Engine) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        return [(v, s) for v, s in session.execute(
            select(ModelVersion.version, ModelVersion.status).order_by(ModelVersion.version))]


def _production(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        found = registry.production_version(session=session, model_id=model.id)
        return None if found is None else found.version


def test_a_job_registers_a_candidate_trained_on_its_window_and_shadow_scores_traffic(
        engine: Engine, tmp_path: Path) -> None:
    job, ids = _claimed(engine, tmp_path)
    artifacts = tmp_path / "artifacts"
    result = _run(engine, job, artifacts)
    assert result == JobResult(status="succeeded", version=2)
    done = jobs.get_job(engine=engine, job_id=job.id)
    assert (done.status, done.stage, done.percent, done.result_version) == (
        "succeeded", "done", 100.0, 2)
    assert "registered churn v2 as a candidate" in done.log
    assert _versions(engine) == [(1, V1_STATUS), (2, "candidate")]
    assert _production(engine) == 1  # production untouched
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        v2 = session.scalars(select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == 2)).one()
        facts = (v2.artifact_path, v2.artifact_sha256, v2.training_fingerprint, v2.job_id,
                 v2.created_by, v2.notes, v2.holdout_metrics, len(v2.reference_sample))
        trained = dict(session.execute(select(VersionTrainingRow.prediction_id,
                                              VersionTrainingRow.revision)
                                       .where(VersionTrainingRow.version_id == v2.id)).all())
        shadow = set(session.scalars(select(ShadowPrediction.prediction_id)
                                     .where(ShadowPrediction.version_id == v2.id)))
        audits = session.scalars(select(AuditLog).where(AuditLog.action == "register_version",
                                                        AuditLog.object_id == "churn:v2")).all()
    path, sha, fingerprint, job_id, created_by, notes, metrics, reference = facts
    assert Path(path).parent == artifacts
    assert sha256_of(Path(path)) == sha
    assert (job_id, created_by) == (job.id, "olive")
    assert notes.startswith(f"retrained by job {job.id}: same preset")
    assert "after the drift" in notes
    # Trained on the older 80 % of the window's labelled rows, never the newest 20 %.
    rows = load_rows(engine, "churn", job.window_start, job.window_end)
    train_part, holdout = split_holdout(rows, HOLDOUT_FRACTION)
    assert trained == dict.fromkeys(train_part.ids, 1)
    assert fingerprint["training_rows"] == len(trained) == 240
    assert fingerprint["holdout_rows"] == metrics["holdout_rows"] == len(holdout) == 60
    assert reference == 240
    # Every prediction of the last 7 days was answered by the candidate (labelled or not).
    assert shadow >= set(ids)
    assert len(shadow) == 320
    assert [a.actor for a in audits] == ["olive"]
    assert audits[0].details["job"] == job.id
    # The candidate learned the new rule: better than version 1 on the held-out rows.
    model = load_artifact(Path(path), sha)
    truth = np.asarray([drifted_label(s) for s in holdout.features["spend"]])
    assert (model.predict(holdout.features) == truth).mean() > metrics["accuracy"] - 1e-9 > 0.8


def test_the_evidence_leaves_out_what_the_candidate_was_trained_on(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    assert _run(engine, job, tmp_path / "artifacts").status == "succeeded"
    evidence = gather_evidence(engine=engine, model="churn", candidate=2, bootstrap=50)
    # 300 labelled predictions, all answered by both: 240 trained on, 60 held out.
    assert (evidence.shared, evidence.excluded_training_rows) == (60, 240)
    assert evidence.accuracy_candidate.value is not None
    assert evidence.accuracy_baseline.value is not None
    assert evidence.accuracy_candidate.value > evidence.accuracy_baseline.value
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        ids = registry.version_row_ids(session=session)[model.id]
        assert results.training_row_count(session=session, version_id=ids[2]) == 240
        assert results.training_row_count(session=session, version_id=ids[1]) == 0


def _leftovers(folder: Path) -> list[Path]:
    return sorted(folder.glob("*")) if folder.exists() else []


def test_a_job_that_raises_is_failed_with_its_error_and_registers_nothing(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    with session_scope(engine) as session:
        v1 = session.scalars(select(ModelVersion)).one()
        Path(v1.artifact_path).write_bytes(b"not the pickle the registry vouches for")
    artifacts = tmp_path / "artifacts"
    result = _run(engine, job, artifacts)
    assert result.status == "failed"
    assert result.version is None
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert failed.status == "failed"
    assert failed.result_version is None
    assert "churn v1 cannot be retrained here" in failed.error
    assert "\n" not in failed.error
    assert _versions(engine) == [(1, V1_STATUS)]
    assert _production(engine) == 1
    assert _leftovers(artifacts) == []


def test_a_cancelled_job_stops_and_keeps_nothing(engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    jobs.cancel_job(engine=engine, actor=OPERATOR, job_id=job.id)
    artifacts = tmp_path / "artifacts"
    assert _run(engine, job, artifacts).status == "cancelled"
    ended = jobs.get_job(engine=engine, job_id=job.id)
    assert (ended.status, ended.result_version) == ("cancelled", None)
    assert _versions(engine) == [(1, V1_STATUS)]
    assert _leftovers(artifacts) == []


def test_a_job_whose_shadow_scoring_fails_names_the_whole_candidate_it_registered(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    with session_scope(engine, write=True) as session:
        model = registry.get_model(session=session, name="churn")
        v1 = registry.version_row_id(session=session, model=model, version=1)
        odd = {**logged_row(model.id, v1), "features": {"tenure": 3.0, "plan": "pro"}}
        insert_predictions(session=session, rows=[odd])  # logged without "spend"
    result = _run(engine, job, tmp_path / "artifacts")
    assert (result.status, result.version) == ("failed", 2)
    failed = jobs.get_job(engine=engine, job_id=job.id)
    assert (failed.status, failed.result_version) == ("failed", 2)
    assert failed.error.startswith("churn v2 was registered as a candidate, but its shadow "
                                   "scoring failed: cannot shadow-score churn v2")
    assert _versions(engine) == [(1, V1_STATUS), (2, "candidate")]
    with session_scope(engine) as session:
        v2 = registry.version_row_id(session=session, model=registry.get_model(
            session=session, name="churn"), version=2)
        assert results.training_row_count(session=session, version_id=v2) == 240


class _CancelledWhileShadowScoring(Reporter):
    """A run whose operator clicks Cancel once the candidate is registered."""

    def progress(self, stage: str, percent: float, message: str = "") -> None:
        if stage == "shadow scoring" and not self.cancelled:
            jobs.cancel_job(engine=self._engine, actor=OPERATOR, job_id=self.job_id)
        super().progress(stage, percent, message)


def test_a_cancel_after_registering_stops_the_shadow_scoring_and_keeps_the_whole_candidate(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    reporter = _CancelledWhileShadowScoring(engine=engine, job_id=job.id, worker_id=WORKER,
                                            lease_seconds=LEASE_S, min_interval_s=0.0)
    assert _run(engine, job, tmp_path / "artifacts", reporter) == JobResult(
        status="cancelled", version=2, error=jobs.get_job(engine=engine, job_id=job.id).error)
    ended = jobs.get_job(engine=engine, job_id=job.id)
    assert (ended.status, ended.result_version) == ("cancelled", 2)
    assert ended.error.startswith("cancelled while shadow scoring: churn v2 stays registered")
    assert _versions(engine) == [(1, V1_STATUS), (2, "candidate")]
    with session_scope(engine) as session:
        v2 = registry.version_row_id(session=session, model=registry.get_model(
            session=session, name="churn"), version=2)
        assert results.training_row_count(session=session, version_id=v2) == 240
        assert session.scalar(select(func.count()).select_from(ShadowPrediction)) == 0


class _SilentBeforeRegistering(Reporter):
    """A run that goes quiet before registering (its worker died, say), while another
    worker fails the job for the lease that ran out."""

    def progress(self, stage: str, percent: float, message: str = "") -> None:
        if stage == "registering":
            jobs.reap_expired(engine=self._engine, now=utcnow() + timedelta(hours=1))
            return
        super().progress(stage, percent, message)


def test_a_run_whose_lease_was_lost_registers_nothing_and_removes_its_artifact(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    artifacts = tmp_path / "artifacts"
    reporter = _SilentBeforeRegistering(engine=engine, job_id=job.id, worker_id=WORKER,
                                        lease_seconds=LEASE_S, min_interval_s=0.0)
    result = _run(engine, job, artifacts, reporter)
    assert (result.status, result.version) == ("lost", None)
    reaped = jobs.get_job(engine=engine, job_id=job.id)
    assert (reaped.status, reaped.result_version) == ("failed", None)
    assert _versions(engine) == [(1, V1_STATUS)]
    assert _leftovers(artifacts) == []
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(VersionTrainingRow)) == 0


def test_a_run_whose_worker_died_stops_speaking_for_the_job(
        engine: Engine, tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    reporter = Reporter(engine=engine, job_id=job.id, worker_id=WORKER, lease_seconds=LEASE_S,
                        alive=lambda: False)
    assert _run(engine, job, tmp_path / "artifacts", reporter).status == "lost"
    # Left to its lease: still running until a worker reaps it, then failed, no version.
    assert jobs.get_job(engine=engine, job_id=job.id).status == "running"
    assert jobs.reap_expired(engine=engine, now=utcnow() + timedelta(seconds=LEASE_S + 1)) == [
        job.id]
    assert jobs.get_job(engine=engine, job_id=job.id).status == "failed"
    assert _versions(engine) == [(1, V1_STATUS)]


def test_the_lease_check_refuses_a_job_another_worker_failed(engine: Engine,
                                                             tmp_path: Path) -> None:
    job, _ = _claimed(engine, tmp_path)
    now = utcnow()
    with session_scope(engine, write=True) as session:
        assert not results.renew_to_register(
            session=session, job_id=job.id, worker_id="someone-else", now=now,
            lease_seconds=LEASE_S, stage="registering")
        assert results.renew_to_register(session=session, job_id=job.id, worker_id=WORKER,
                                         now=now, lease_seconds=LEASE_S, stage="registering")
    with session_scope(engine, write=True) as session:
        late = now + timedelta(seconds=LEASE_S + 1)
        assert not results.renew_to_register(
            session=session, job_id=job.id, worker_id=WORKER, now=late,
            lease_seconds=LEASE_S, stage="registering")


def test_the_search_preset_reports_its_folds(engine: Engine, tmp_path: Path) -> None:
    begin, end, _ = retrain_store(engine, folder=tmp_path)
    jobs.start_retrain(engine=engine, actor=OPERATOR, model="churn", start=begin, end=end,
                       preset="search", min_per_class=5)
    job = jobs.claim_next(engine=engine, worker_id=WORKER, lease_seconds=LEASE_S)
    assert job is not None
    assert _run(engine, job, tmp_path / "artifacts").status == "succeeded"
    log = jobs.get_job(engine=engine, job_id=job.id).log
    assert "parameter sets cross-validated" in log
    with session_scope(engine) as session:
        v2 = session.scalars(select(ModelVersion).where(ModelVersion.version == 2)).one()
        assert v2.training_fingerprint["preset"] == "search"
        assert v2.holdout_metrics["accuracy"] > 0.8
