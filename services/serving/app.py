"""The inference service's HTTP app: ``POST /predict``, ``GET /metrics``, ``GET /healthz``.

``POST /feedback`` takes labels from other systems (:mod:`services.serving.feedback`);
``POST /jobs/{id}/progress`` and ``/jobs/{id}/result`` take a retrain pipeline's reports
(:mod:`services.serving.jobs_api`).

``create_app`` wires the parts; the lifespan first stores what a previous run left in the
prediction spool, loads the production models before the first request, starts the
reloader and the prediction-log writer, and on shutdown stops the reloader and drains the
log. Every answered prediction is in the spool before its answer is sent, and leaves it
only once stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from db.repositories import health
from db.session import session_scope
from services.serving.batcher import Batcher
from services.serving.body import (
    BodyTooLargeError,
    CloseUnreadBodies,
    read_capped,
    too_large,
)
from services.serving.feedback import feedback_route
from services.serving.jobs_api import progress_route, result_route
from services.serving.metrics import ServingMetrics
from services.serving.model_holder import ModelHolder
from services.serving.payload import MAX_BODY_BYTES
from services.serving.prediction_log import PredictionLog, database_sink
from services.serving.predictor import Predictor
from services.serving.reloader import ModelReloader
from services.serving.spool import Spool
from services.settings import Settings

__all__ = ["ServingState", "create_app"]

logger = logging.getLogger(__name__)

#: Seconds the shutdown keeps retrying a store that refuses the last rows before leaving
#: them in the spool for the next start. With SQLite's 5 s lock wait the process still exits within
#: about 10 s of SIGTERM, the grace a supervisor usually gives before SIGKILL.
DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class ServingState:
    """The parts of one app (``app.state.serving``), for the routes and for tests."""

    engine: Engine
    settings: Settings
    holder: ModelHolder
    metrics: ServingMetrics
    log: PredictionLog
    spool: Spool
    reloader: ModelReloader
    predictor: Predictor
    batcher: Batcher


def _build_state(*, engine: Engine, settings: Settings) -> ServingState:
    holder = ModelHolder()
    metrics = ServingMetrics()
    spool = Spool(
        Path(settings.var_dir) / "serving" / "spool",
        max_bytes=settings.spool_max_bytes,
        fsync=settings.log_fsync,
        on_event=metrics.spool_event,
    )
    metrics.spool_size(lambda: spool.bytes)
    log = PredictionLog(
        sink=database_sink(engine),
        batch_size=settings.log_batch_size,
        flush_seconds=settings.log_flush_seconds,
        drain_seconds=DRAIN_SECONDS,
        spool=spool,
    )
    reloader = ModelReloader(
        engine=engine,
        holder=holder,
        metrics=metrics,
        interval_seconds=settings.model_reload_seconds,
    )
    batcher = Batcher(wait_seconds=settings.batch_wait_ms / 1000.0,
                      max_rows=settings.batch_max_rows, enabled=settings.batch_scoring)
    predictor = Predictor(holder=holder, metrics=metrics, log=log, batcher=batcher)
    return ServingState(
        engine=engine,
        settings=settings,
        holder=holder,
        metrics=metrics,
        log=log,
        spool=spool,
        reloader=reloader,
        predictor=predictor,
        batcher=batcher,
    )


def create_app(*, engine: Engine, settings: Settings) -> FastAPI:
    """Build the inference service for the store behind ``engine``.

    Args:
        engine: the feedback store (registry to follow, predictions table to log to).
        settings: reload interval, log batch size and flush interval, state folder.

    Returns:
        A FastAPI app; run it with its lifespan (uvicorn does; so does ``TestClient``
        used as a context manager), or no model is loaded and nothing is logged.
    """
    state = _build_state(engine=engine, settings=settings)
    app = FastAPI(
        title="opsdash inference service",
        lifespan=_lifespan(state),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.serving = state
    # An answer given before a body is read closes the connection (else it is read anyway).
    app.add_middleware(CloseUnreadBodies)
    app.add_api_route("/predict", _predict_route(state), methods=["POST"])
    # Labels from other systems; answers 503 until OPSDASH_FEEDBACK_TOKEN is set.
    app.add_api_route(
        "/feedback",
        feedback_route(engine=engine, settings=settings, flush_predictions=state.log.flush),
        methods=["POST"],
    )
    # A pipeline reports on a retrain job handed to it, with the job's one-time token.
    app.add_api_route("/jobs/{job_id}/progress", progress_route(engine=engine),
                      methods=["POST"])
    app.add_api_route("/jobs/{job_id}/result",
                      result_route(engine=engine,
                                   artifacts_dir=settings.resolved_artifacts_dir),
                      methods=["POST"])
    app.add_api_route("/metrics", _metrics_route(state), methods=["GET"])
    app.add_api_route("/healthz", _healthz_route(state), methods=["GET"])
    return app


def _lifespan(state: ServingState) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up and shut-down of the app's background parts, around its serving."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_replay, state)
        state.log.start()
        # Load the production models before the first request is accepted.
        await run_in_threadpool(state.reloader.refresh)
        state.reloader.start()
        served = state.holder.served_versions()
        logger.info("inference service ready; serving %s", served or "no model yet")
        try:
            yield
        finally:
            await run_in_threadpool(state.reloader.stop)
            pending = state.log.pending
            await run_in_threadpool(state.log.stop)
            state.spool.close()
            logger.info(
                "inference service stopped; %d predictions logged in all, %d of them at shutdown",
                state.log.rows_written,
                pending,
            )

    return lifespan


def _replay(state: ServingState) -> None:
    """Store what a previous run left in the spool, before serving; a failure is retried."""
    rows = state.spool.open()
    if not rows:
        return
    state.log.replay(rows)
    if state.log.flush():
        logger.warning("stored %d predictions left in the spool by a previous run", len(rows))
    else:
        logger.error("could not store the %d predictions left in the spool yet (%s); the "
                     "writer keeps trying", state.log.pending, state.log.last_error)


def _predict_route(state: ServingState) -> Callable[[Request], Awaitable[Response]]:
    """``POST /predict``: a body over the limit is refused at its first byte over it."""

    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLargeError as exc:
            state.metrics.error(model="", version=None, reason="validation")
            return too_large(exc.limit)
        # Scoring runs on a worker thread, batched with concurrent requests (batcher.py).
        answer = await state.predictor.handle(body=body, started=started)
        return Response(
            content=answer.content, status_code=answer.status, media_type="application/json"
        )

    return predict


def _metrics_route(state: ServingState) -> Callable[[Request], Awaitable[Response]]:
    """``GET /metrics``: the exposition format the scraper asks for."""

    async def metrics(request: Request) -> Response:
        content, content_type = state.metrics.exposition(accept=request.headers.get("accept", ""))
        return Response(content=content, headers={"Content-Type": content_type})

    return metrics


def _healthz_route(state: ServingState) -> Callable[[], JSONResponse]:
    """``GET /healthz``: 200 when the service can answer and store, else 503 and why."""

    def healthz() -> JSONResponse:
        models = state.holder.served_versions()
        reason = _unhealthy_reason(state, models)
        body: dict[str, object] = (
            {"status": "unavailable", "reason": reason} if reason else {"status": "ok"}
        )
        body["models"] = models
        refused = state.reloader.refused()
        if refused:
            # Serving, but not what the registry says: the operator must see it.
            body["refused"] = refused
        return JSONResponse(body, status_code=503 if reason else 200)

    return healthz


def _unhealthy_reason(state: ServingState, models: dict[str, int]) -> str:
    try:
        with session_scope(state.engine) as session:
            health.ping(session=session)
    except SQLAlchemyError as exc:
        return f"database unreachable: {exc.__class__.__name__}"
    if not models:
        detail = state.reloader.last_error or "no model has a loadable production version"
        return f"no model loaded ({detail})"
    if not state.log.running:
        return "the prediction log writer is not running"
    if not state.log.accepting:
        return f"the prediction log holds {state.log.pending} unwritten rows"
    if state.spool.full:
        return f"the prediction spool is full ({state.spool.bytes} bytes not yet stored)"
    return ""
