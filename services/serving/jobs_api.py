"""``POST /jobs/{id}/progress`` and ``POST /jobs/{id}/result``: a pipeline reports on a
retrain job handed to it.

Progress: ``{"stage": "...", "percent": 0-100, "message": "..."?}`` → 200
``{"cancel_requested": bool}`` (true: an operator cancelled the job; stop). Result:
``{"metrics": {...}, "artifact": "<artifacts folder>/file.pkl" | null, "notes": "..."?,
"fingerprint": {...}?}`` → 200 ``{"job", "model", "version", "status"}``: the version is
registered as a candidate and the job ends succeeded; or ``{"error": "why"}``: the run
failed and the job ends failed with that reason. Either way the token is spent. A result
for a job an operator cancelled is refused with 409 (nothing registered).

Only the job's one-time callback token opens them (``Authorization: Bearer <token>``,
compared in constant time against the stored sha256), checked before the body is read:
401 for a missing, wrong or spent token, and for a job that does not exist or no longer
takes reports (alike, so a caller learns nothing). 413 for a body over
:data:`MAX_BODY_BYTES`; 422 ``{"detail": [{"field", "message"}]}`` naming the bad field;
503 when the database is busy. Never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from services.retrain.callback import (
    PIPELINE_ACTOR,
    CallbackError,
    JobCancelledError,
    TokenRefusedError,
    check_token,
    register_result,
    report_failure,
    report_progress,
)
from services.serving.body import BodyError, BodyTooLargeError, loads, read_capped, too_large
from services.serving.payload import Problem

__all__ = ["MAX_BODY_BYTES", "progress_route", "result_route"]

logger = logging.getLogger(__name__)

#: Largest body accepted (the metrics object is at most 64 KiB as JSON).
MAX_BODY_BYTES = 128 * 1024
_PROGRESS_FIELDS = ("stage", "percent", "message")
_RESULT_FIELDS = ("metrics", "artifact", "notes", "fingerprint", "error")

Handler = Callable[[Request], Awaitable[Response]]


def _json(status: int, body: dict[str, Any], **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers or None)


def _refused() -> JSONResponse:
    return _json(401, {"detail": "missing, wrong or spent callback token"},
                 **{"WWW-Authenticate": "Bearer"})


def _unprocessable(field: str, message: str) -> JSONResponse:
    return _json(422, {"detail": [Problem(field, message).as_json()]})


def _bearer(header: str | None) -> str | None:
    scheme, _, given = (header or "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


async def _admitted_body(engine: Engine, request: Request, allowed: tuple[str, ...]
                         ) -> tuple[int, str, dict[str, Any]] | Response:
    """``(job id, token, body)`` of an admitted caller with a well-formed body, or the
    answer to give instead."""
    token = _bearer(request.headers.get("authorization"))
    raw_id = request.path_params.get("job_id", "")
    if token is None or not raw_id.isdigit() or len(raw_id) > 18:
        return _refused()
    job_id = int(raw_id)
    try:
        await run_in_threadpool(check_token, engine=engine, job_id=job_id, token=token)
    except TokenRefusedError:
        return _refused()
    try:
        data = loads(await read_capped(request, MAX_BODY_BYTES))
    except BodyTooLargeError as exc:
        return too_large(exc.limit)
    except BodyError as exc:
        return _unprocessable("body", exc.message)
    if not isinstance(data, dict):
        return _unprocessable("body", "must be a JSON object")
    unknown = sorted(set(data) - set(allowed), key=str)
    if unknown:
        return _unprocessable(str(unknown[0]), f"is not a field; expected {', '.join(allowed)}")
    return job_id, token, data


async def _answer(work: Callable[[], dict[str, Any]]) -> Response:
    """Run ``work`` in a worker thread; its result or the refusal, never a traceback."""
    try:
        return _json(200, await run_in_threadpool(work))
    except CallbackError as exc:
        return _unprocessable(exc.field, exc.message)
    except JobCancelledError as exc:
        return _json(409, {"detail": str(exc)})
    except TokenRefusedError:
        return _refused()  # spent meanwhile (the job ended between the look and the report)
    except SQLAlchemyError as exc:
        logger.error("job report not stored: %s", exc.__class__.__name__, exc_info=exc)
        return _json(503, {"detail": "database unavailable, retry"}, **{"Retry-After": "1"})


def progress_route(*, engine: Engine) -> Handler:
    """The ``POST /jobs/{job_id}/progress`` handler."""

    async def progress(request: Request) -> Response:
        admitted = await _admitted_body(engine, request, _PROGRESS_FIELDS)
        if isinstance(admitted, Response):
            return admitted
        job_id, token, data = admitted
        for name in ("stage", "percent"):
            if name not in data:
                return _unprocessable(name, "is missing")

        def work() -> dict[str, Any]:
            cancel = report_progress(engine=engine, job_id=job_id, token=token,
                                     stage=data["stage"], percent=data["percent"],
                                     message=data.get("message", ""))
            return {"cancel_requested": cancel}

        return await _answer(work)

    return progress


def result_route(*, engine: Engine, artifacts_dir: Path) -> Handler:
    """The ``POST /jobs/{job_id}/result`` handler (an artifact must be in
    ``artifacts_dir``)."""

    async def result(request: Request) -> Response:
        admitted = await _admitted_body(engine, request, _RESULT_FIELDS)
        if isinstance(admitted, Response):
            return admitted
        job_id, token, data = admitted
        if "error" in data:
            return await _failed(engine, job_id, token, data)
        if "metrics" not in data:
            return _unprocessable("metrics", "is missing")
        artifact = data.get("artifact")
        if artifact is not None and (not isinstance(artifact, str) or not artifact.strip()):
            return _unprocessable("artifact", "must be a file path or null")

        def work() -> dict[str, Any]:
            job = register_result(
                engine=engine, job_id=job_id, token=token, actor=PIPELINE_ACTOR,
                artifact=None if artifact is None else Path(artifact),
                metrics=data["metrics"], notes=data.get("notes", ""),
                fingerprint=data.get("fingerprint"), within=artifacts_dir)
            return {"job": job.id, "model": job.model, "version": job.result_version,
                    "status": job.status}

        return await _answer(work)

    return result


async def _failed(engine: Engine, job_id: int, token: str, data: dict[str, Any]) -> Response:
    """``{"error": "why"}``: the pipeline failed; the job ends failed with its reason."""
    if set(data) != {"error"}:
        return _unprocessable("error", "goes alone: a failed run registers nothing")

    def work() -> dict[str, Any]:
        job = report_failure(engine=engine, job_id=job_id, token=token, actor=PIPELINE_ACTOR,
                             error=data["error"])
        return {"job": job.id, "model": job.model, "version": None, "status": job.status}

    return await _answer(work)
