"""What an outside pipeline reports on a job handed to it: progress, then its result.

Over HTTP (the inference service's ``/jobs/{id}/progress`` and ``/jobs/{id}/result``) the
caller proves itself with the job's one-time callback token, compared in constant time
against the stored sha256; on the command line (``jobs progress``, ``add-version --job``)
the store's access is the proof (``token=None``). Registering the result writes the
candidate version (with the job's window, the pipeline's metrics and fingerprint), ends
the job ``succeeded`` with it and spends the token, in one transaction with its audit
entry: a job ends once, with one version at most.
"""

from __future__ import annotations

import hmac
import json
import math
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import handoff as handoff_repo
from db.repositories import jobs as jobs_repo
from db.session import session_scope
from services.access.principal import RETRAIN_PIPELINE
from services.audit import record
from services.registry.registration import checked_artifact
from services.retrain.handoff import token_sha256
from services.retrain.jobs import Job, get_job

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_METRICS_BYTES",
    "PIPELINE_ACTOR",
    "CallbackError",
    "JobCancelledError",
    "NotHandedOffError",
    "TokenRefusedError",
    "check_metrics",
    "check_progress",
    "check_token",
    "register_result",
    "report_failure",
    "report_progress",
]

#: Who the audit log names for a report made with a job's token.
PIPELINE_ACTOR = RETRAIN_PIPELINE
MAX_STAGE_CHARS = 40
MAX_MESSAGE_CHARS = 500
#: Largest metrics object a pipeline may register, as JSON.
MAX_METRICS_BYTES = 64 * 1024


class CallbackError(ValueError):
    """A report's value is unusable; ``field`` names it (the 422 answer's field)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TokenRefusedError(PermissionError):
    """The token is not this job's, or the job no longer takes reports (said alike)."""


class JobCancelledError(RuntimeError):
    """An operator cancelled the job: its result is not registered."""


class NotHandedOffError(LookupError):
    """The job is not one an outside pipeline is working on (command line only)."""


def _plain(field: str, value: object, limit: int, *, empty: bool) -> str:
    if not isinstance(value, str):
        raise CallbackError(field, "must be a string")
    if (not empty and not value.strip()) or len(value) > limit:
        raise CallbackError(field, f"must have {0 if empty else 1} to {limit} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise CallbackError(field, "must not hold control characters")
    return value


def check_progress(stage: object, percent: object, message: object = "") -> tuple[str, float,
                                                                                   str]:
    """The report's values, checked. Raises CallbackError naming the first bad field."""
    checked_stage = _plain("stage", stage, MAX_STAGE_CHARS, empty=False)
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not (
            math.isfinite(percent) and 0 <= percent <= 100):
        raise CallbackError("percent", "must be a number from 0 to 100")
    return checked_stage, float(percent), _plain("message", message, MAX_MESSAGE_CHARS,
                                                 empty=True)


def check_metrics(metrics: object) -> dict[str, Any]:
    """A JSON object of at most :data:`MAX_METRICS_BYTES` (no NaN or infinity)."""
    if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
        raise CallbackError("metrics", "must be a JSON object")
    try:
        size = len(json.dumps(metrics, allow_nan=False).encode())
    except (TypeError, ValueError):
        raise CallbackError("metrics", "must hold only JSON values (no NaN or infinity)"
                            ) from None
    if size > MAX_METRICS_BYTES:
        raise CallbackError("metrics", f"must be at most {MAX_METRICS_BYTES} bytes as JSON")
    return metrics


def _admitted(session: Any, job_id: int, token: str | None) -> handoff_repo.HandedOff:
    """The handed-off job if ``token`` is its token (or ``None``: the command line)."""
    job = handoff_repo.handed_off(session=session, job_id=job_id)
    if token is not None:
        given = token_sha256(token)
        stored = job.token_sha256 if job is not None else "0" * 64
        if not hmac.compare_digest(given, stored) or job is None:
            raise TokenRefusedError("wrong or spent callback token")
        return job
    if job is None:
        raise NotHandedOffError(f"retrain job {job_id} is not a running job handed to a "
                                "pipeline (see `jobs`)")
    return job


def check_token(*, engine: Engine, job_id: int, token: str) -> None:
    """Raises TokenRefusedError unless ``token`` is the running handed-off job's (a look
    before a request's body is read: the report itself checks again)."""
    with session_scope(engine) as session:
        _admitted(session, job_id, token)


def report_progress(*, engine: Engine, job_id: int, token: str | None, stage: object,
                    percent: object, message: object = "") -> bool:
    """Record the pipeline's progress; returns whether a cancel was requested (the
    pipeline should stop; the job ends cancelled at the worker's next look).

    Raises:
        CallbackError: a bad value (nothing recorded).
        TokenRefusedError: a wrong or spent token.
        NotHandedOffError: (command line) the job is not handed off.
    """
    checked = check_progress(stage, percent, message)
    with session_scope(engine, write=True) as session:
        job = _admitted(session, job_id, token)
        handoff_repo.progress(session=session, job_id=job_id, now=utcnow(), stage=checked[0],
                              percent=checked[1], message=checked[2])
        return job.cancel_requested


def report_failure(*, engine: Engine, job_id: int, token: str | None, actor: str,
                   error: object) -> Job:
    """End the job failed with the pipeline's reason (nothing registered); spends the token.

    Raises:
        CallbackError: an empty or too long reason.
        TokenRefusedError: a wrong or spent token.
        NotHandedOffError: (command line) the job is not handed off.
    """
    reason = _plain("error", error, MAX_MESSAGE_CHARS, empty=False)
    with session_scope(engine, write=True) as session:
        _admitted(session, job_id, token)
        now = utcnow()
        text = f"the pipeline failed: {reason}"
        handoff_repo.end_handed_off(session=session, job_id=job_id, now=now, status="failed",
                                    error=text, result_version_id=None)
        jobs_repo.append_log(session=session, job_id=job_id,
                             text=f"{now:%H:%M:%S} failed: {text} (reported by {actor})")
    return get_job(engine=engine, job_id=job_id)


def _not_cancelled(job: handoff_repo.HandedOff) -> handoff_repo.HandedOff:
    if job.cancel_requested:
        raise JobCancelledError(f"retrain job {job.id} was cancelled by an operator; nothing "
                                "was registered")
    return job


def _checked(engine: Engine, model: str, artifact: Path, within: Path | None
             ) -> tuple[str, str]:
    """The artifact's path and sha256, once it is found in ``within`` and loads."""
    if within is not None and not artifact.resolve().is_relative_to(within.resolve()):
        raise CallbackError("artifact", f"must be a file in the artifacts folder {within}")
    from services.registry.registration import RegistrationError

    try:
        return checked_artifact(engine=engine, model=model, artifact=artifact)
    except RegistrationError as exc:
        raise CallbackError("artifact", str(exc)) from None


def register_result(*, engine: Engine, job_id: int, token: str | None, actor: str,
                    artifact: Path | None, metrics: object, notes: str = "",
                    fingerprint: object = None, within: Path | None = None) -> Job:
    """Register the pipeline's model as the job's candidate and end the job succeeded.

    Args:
        artifact: a pickled pipeline this process can read (checked as ``add-version``
            checks one); ``None`` for a model served elsewhere (metrics only).
        within: the folder the artifact must be in (over HTTP: the artifacts folder, so a
            token opens no other file of the service's machine to unpickling).

    Raises:
        CallbackError: bad metrics, notes or fingerprint, or an unusable artifact.
        JobCancelledError: an operator cancelled the job (nothing registered).
        TokenRefusedError: a wrong or spent token.
        NotHandedOffError: (command line) the job is not handed off.
    """
    checked = check_metrics(metrics)
    notes = _plain("notes", notes, MAX_MESSAGE_CHARS, empty=True)
    if fingerprint is not None:
        fingerprint = check_metrics(fingerprint) if isinstance(fingerprint, dict) else None
        if fingerprint is None:
            raise CallbackError("fingerprint", "must be a JSON object")
    with session_scope(engine) as session:  # a first look, before loading the artifact
        _not_cancelled(_admitted(session, job_id, token))
    model = get_job(engine=engine, job_id=job_id).model
    path, sha = ("", "") if artifact is None else _checked(engine, model, artifact, within)
    with session_scope(engine, write=True) as session:
        job = _not_cancelled(_admitted(session, job_id, token))
        version = handoff_repo.add_job_version(
            session=session, model_id=job.model_id, job_id=job_id, artifact_path=path,
            artifact_sha256=sha, created_by=actor, holdout_metrics=checked,
            train_window_start=job.window_start, train_window_end=job.window_end,
            notes=notes, fingerprint=fingerprint)
        now = utcnow()
        handoff_repo.end_handed_off(session=session, job_id=job_id, now=now,
                                    status="succeeded", error="",
                                    result_version_id=version.id)
        record(session=session, actor=actor, action="register_version",
               object_type="model_version", object_id=f"{model}:v{version.version}", at=now,
               details={"artifact_sha256": sha or None, "notes": notes, "job": job_id})
        jobs_repo.append_log(session=session, job_id=job_id,
                             text=f"{now:%H:%M:%S} succeeded: the pipeline registered "
                                  f"{model} v{version.version} (by {actor})")
    return get_job(engine=engine, job_id=job_id)
