"""Handing a retrain job to an outside orchestrator: one signed POST, retried a few times.

With ``OPSDASH_RETRAIN_BACKEND=webhook`` a job is not trained here: the worker claims it
(under a lease, so two workers never deliver one job twice), makes a one-time callback
token (only its sha256 is stored), and POSTs the job's description (:func:`description`)
to ``OPSDASH_RETRAIN_WEBHOOK_URL``, signed with HMAC-SHA256 of the exact body
(``X-Opsdash-Signature: sha256=<hex>``). Connection errors, timeouts and 5xx answers are
retried after a bounded backoff; any other answer is final. Delivered (2xx), the job stays
running with stage ``handed off`` and waits for the pipeline's reports
(:mod:`services.retrain.callback`); not delivered, it fails with the last error. Either way
the delivery's result (status, attempts, error, when) is kept on the job and in its log.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import handoff as handoff_repo
from db.repositories import jobs as jobs_repo
from db.repositories import registry
from db.session import session_scope
from services.prometheus.connection import parse_headers
from services.redact import redact_urls
from services.retrain.jobs import Job, LeaseLostError, claim_next, finish, get_job, report
from services.settings import Settings
from services.webhook_signature import SIGNATURE_HEADER, sign

__all__ = [
    "SIGNATURE_HEADER",
    "Delivery",
    "deliver_next",
    "description",
    "end_overdue",
    "post_signed",
    "sign",
    "token_sha256",
    "webhook_headers",
]

#: The header naming the job (the same id as the body's ``job_id``).
JOB_HEADER = "X-Opsdash-Job"
#: Longest wait between two attempts, in seconds.
MAX_BACKOFF_S = 30.0
_ERROR_TEXT_MAX = 300


@dataclass(frozen=True)
class Delivery:
    """The result of delivering one job: ``delivered`` on a 2xx answer."""

    delivered: bool
    status: int | None  # the last answer's HTTP status; None when none came
    attempts: int
    error: str  # empty when delivered
    at: str  # ISO 8601, when the last attempt ended

    def as_json(self) -> dict[str, Any]:
        """The delivery as stored on the job."""
        return asdict(self)


def token_sha256(token: str) -> str:
    """How a callback token is stored (the token itself never is)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _callback_base(settings: Settings) -> str:
    return (settings.retrain_callback_url or settings.serving_url).rstrip("/")


def description(*, job: Job, version_base: int | None, token: str,
                settings: Settings) -> dict[str, Any]:
    """The job as the pipeline receives it (the body, or the ``conf`` of Airflow's)."""
    base = _callback_base(settings)
    return {
        "job_id": job.id, "model": job.model, "version_base": version_base,
        "window": {"start": job.window_start.isoformat(), "end": job.window_end.isoformat()},
        "preset": job.preset, "note": job.note, "requested_by": job.requested_by,
        "callback": {
            "token": token,
            "progress_url": f"{base}/jobs/{job.id}/progress",
            "register_url": f"{base}/jobs/{job.id}/result",
            "cli": {"progress": f"python -m services.cli jobs progress {job.id} --stage "
                                "STAGE --percent PERCENT",
                    "register": f"python -m services.cli add-version {job.model} --artifact "
                                f"FILE --metrics FILE --job {job.id}"},
        },
    }


def _body(described: dict[str, Any], settings: Settings) -> bytes:
    if settings.retrain_webhook_format == "airflow":
        described = {"dag_run_id": f"opsdash-job-{described['job_id']}",
                     "logical_date": None, "conf": described}
    return json.dumps(described, separators=(",", ":"), sort_keys=True).encode()


def webhook_headers(settings: Settings) -> dict[str, str]:
    """``OPSDASH_RETRAIN_WEBHOOK_HEADERS`` as headers.

    Raises:
        SettingsError: a malformed entry (named, its value never shown).
    """
    return parse_headers(settings.retrain_webhook_headers,
                         variable="OPSDASH_RETRAIN_WEBHOOK_HEADERS")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new address to send the job (and its token) to."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _attempt(url: str, body: bytes, headers: dict[str, str], timeout: float
             ) -> tuple[int | None, str]:
    """One POST: ``(status, error)``; ``status`` None when no answer came."""
    # http or https only: the setting is checked (services.setting_types._webhook_url).
    request = urllib.request.Request(url, data=body, headers=headers,  # noqa: S310
                                     method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            return int(answer.status), ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"the receiver answered HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, redact_urls(f"the receiver cannot be reached ({reason})")[:_ERROR_TEXT_MAX]


def post_signed(*, url: str, body: bytes, secret: str, job_id: int, timeout: float,
                attempts: int, backoff_s: float = 1.0, extra_headers: dict[str, str] | None = None,
                before_attempt: Callable[[int], None] | None = None,
                sleep: Callable[[float], None] = time.sleep,
                conflict_is_delivered: bool = False) -> Delivery:
    """POST ``body`` signed, retrying connection errors and 5xx answers.

    Waits ``backoff_s`` × 2^(k-1) (at most :data:`MAX_BACKOFF_S`) before attempt k + 1;
    ``before_attempt(k)`` runs before each attempt (the worker renews its lease there).
    ``conflict_is_delivered``: a 409 answer to a retry means an earlier attempt got
    through (Airflow refuses a second run of the same ``dag_run_id``).
    """
    headers = {**(extra_headers or {}), "Content-Type": "application/json",
               SIGNATURE_HEADER: sign(body, secret), JOB_HEADER: str(job_id)}
    status: int | None = None
    error = ""
    made = 0
    for made in range(1, attempts + 1):
        if before_attempt is not None:
            before_attempt(made)
        status, error = _attempt(url, body, headers, timeout)
        if status == 409 and conflict_is_delivered and made > 1:
            error = ""
            break
        if status is not None and 200 <= status < 300:
            error = ""
            break
        if status is not None and status < 500:
            break  # a refusal: asking again changes nothing
        if made < attempts:
            sleep(min(MAX_BACKOFF_S, backoff_s * 2 ** (made - 1)))
    delivered = status is not None and (200 <= status < 300 or (status == 409 and not error))
    if not delivered:
        error = f"not delivered after {made} attempt{'s' * (made != 1)}: {error}"
    return Delivery(delivered=delivered, status=status, attempts=made, error=error,
                    at=utcnow().isoformat())


def _version_base(engine: Engine, job: Job) -> int | None:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name=job.model)
        version = registry.production_version(session=session, model_id=model.id)
        return None if version is None else version.version


def deliver_next(*, engine: Engine, settings: Settings, worker_id: str,
                 backoff_s: float = 1.0) -> Job | None:
    """Claim the oldest queued webhook job and deliver it; the job as it ended up, or
    ``None`` when none was queued. The lease is renewed before each attempt."""
    # Renewed before each attempt: long enough for one attempt and the wait before it.
    lease = (settings.retrain_lease_seconds + settings.retrain_webhook_timeout_seconds
             + MAX_BACKOFF_S)
    job = claim_next(engine=engine, worker_id=worker_id, lease_seconds=lease,
                     backend="webhook")
    if job is None:
        return None
    token = secrets.token_urlsafe(32)
    with session_scope(engine, write=True) as session:
        if not handoff_repo.set_token(session=session, job_id=job.id, worker_id=worker_id,
                                      token_sha256=token_sha256(token)):
            raise LeaseLostError(f"retrain job {job.id} was lost before its delivery")
    body = _body(description(job=job, version_base=_version_base(engine, job), token=token,
                             settings=settings), settings)

    def renew(attempt: int) -> None:
        report(engine=engine, job_id=job.id, worker_id=worker_id, stage="delivering",
               percent=0.0, message=f"attempt {attempt} of {settings.retrain_webhook_attempts}",
               lease_seconds=lease)

    delivery = post_signed(url=settings.retrain_webhook_url, body=body,
                           secret=settings.retrain_webhook_secret, job_id=job.id,
                           timeout=settings.retrain_webhook_timeout_seconds,
                           attempts=settings.retrain_webhook_attempts, backoff_s=backoff_s,
                           extra_headers=webhook_headers(settings), before_attempt=renew,
                           conflict_is_delivered=settings.retrain_webhook_format == "airflow")
    _settle(engine, job, worker_id, delivery)
    return get_job(engine=engine, job_id=job.id)


def _settle(engine: Engine, job: Job, worker_id: str, delivery: Delivery) -> None:
    """Hand the job off (delivered) or fail it (not), keeping the delivery's result."""
    line = (f"{delivery.at[11:19]} delivered to the pipeline (HTTP {delivery.status}, "
            f"{delivery.attempts} attempt{'s' * (delivery.attempts != 1)})"
            if delivery.delivered else f"{delivery.at[11:19]} {delivery.error}")
    if delivery.delivered:
        with session_scope(engine, write=True) as session:
            handoff_repo.record_delivery(session=session, job_id=job.id,
                                         delivery=delivery.as_json())
            handoff_repo.hand_off(session=session, job_id=job.id, worker_id=worker_id,
                                  now=utcnow(), delivery=delivery.as_json())
            jobs_repo.append_log(session=session, job_id=job.id, text=line)
        return
    with session_scope(engine, write=True) as session:
        handoff_repo.record_delivery(session=session, job_id=job.id,
                                     delivery=delivery.as_json())
    finish(engine=engine, job_id=job.id, worker_id=worker_id, status="failed",
           error=delivery.error)


def end_overdue(*, engine: Engine, settings: Settings, now: datetime | None = None) -> list[int]:
    """End handed-off jobs that were asked to cancel, or whose pipeline has been silent
    longer than ``OPSDASH_RETRAIN_WEBHOOK_DEADLINE_HOURS``; their ids."""
    at = now or utcnow()
    silent_since = at - timedelta(hours=settings.retrain_webhook_deadline_hours)
    ended: list[int] = []
    with session_scope(engine, write=True) as session:
        for job_id, cancel, heartbeat in handoff_repo.overdue(session=session,
                                                              silent_since=silent_since):
            status = "cancelled" if cancel else "failed"
            error = "" if cancel else (
                "the pipeline stopped reporting (last report "
                f"{(heartbeat or at).astimezone(UTC):%Y-%m-%d %H:%M UTC}); its token no "
                "longer works")
            if handoff_repo.end_handed_off(session=session, job_id=job_id, now=at,
                                           status=status, error=error, result_version_id=None):
                jobs_repo.append_log(session=session, job_id=job_id,
                                     text=f"{at.astimezone(UTC):%H:%M:%S} {status}"
                                     + (f": {error}" if error else ""))
                ended.append(job_id)
    return ended
