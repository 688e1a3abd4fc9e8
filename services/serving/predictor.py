"""One ``POST /predict`` request from body bytes to answer bytes, without any HTTP framework.

The request path reads only the in-memory :class:`ModelHolder`; the answered predictions
go to the :class:`PredictionLog` queue and the metrics. The database is never touched here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from db.base import utcnow
from services.predictions.ids import prediction_ids
from services.registry.loading import LoadedModel
from services.registry.scoring import ScoredRecord
from services.serving.batcher import Batcher
from services.serving.metrics import ServingMetrics
from services.serving.model_holder import ModelEntry, ModelHolder
from services.serving.payload import (
    PayloadError,
    PredictRequest,
    Problem,
    parse_request,
    validate_records,
)
from services.serving.prediction_log import PredictionLog
from services.serving.spool import SpoolFullError

__all__ = ["Answer", "Predictor"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status code and JSON body bytes."""

    status: int
    content: bytes


def _json(status: int, body: Any) -> Answer:
    return Answer(status=status, content=json.dumps(body, allow_nan=False).encode())


class Predictor:
    """Validates, scores, counts and logs prediction requests.

    Args:
        holder: the served models.
        metrics: the app's metrics.
        log: the prediction log queue.
        batcher: scores the records, with other requests' when it batches.
    """

    def __init__(self, *, holder: ModelHolder, metrics: ServingMetrics, log: PredictionLog,
                 batcher: Batcher) -> None:
        self._holder = holder
        self._metrics = metrics
        self._log = log
        self._batcher = batcher

    async def handle(self, *, body: bytes, started: float | None = None) -> Answer:
        """Answer one request body.

        Args:
            body: the raw request body.
            started: ``time.perf_counter()`` when the request arrived (defaults to now);
                the latency metric and the logged ``latency_ms`` count from it.
        """
        t0 = time.perf_counter() if started is None else started
        try:
            request = self._parse(body)
            entry, loaded = self._ready_model(request.model)
            records = self._validate(entry, loaded, request)
            scored = await self._score(entry, loaded, records)
        except _RefusedError as refused:
            return refused.answer
        ts = utcnow()
        ids = prediction_ids([ts] * len(scored))
        answers = [
            {
                "prediction_id": pid,
                "predicted_class": s.predicted_class,
                "probabilities": s.probabilities,
            }
            for pid, s in zip(ids, scored, strict=True)
        ]
        head = {"model": entry.name, "version": loaded.version}
        answer = _json(
            200, {**head, "predictions": answers} if request.batch else {**head, **answers[0]}
        )
        latency = time.perf_counter() - t0
        try:
            # Spooled (on disk) before the answer goes out; refused if it cannot be kept.
            self._log.submit(_log_rows(entry, loaded, ts=ts, ids=ids, records=records,
                                       scored=scored, latency_ms=latency * 1000.0))
        except (SpoolFullError, OSError) as exc:
            return self._unkept(entry, loaded, exc)
        self._metrics.predictions_served(
            model=entry.name,
            version=loaded.version,
            predicted_classes=[s.predicted_class for s in scored],
            top_scores=[s.top_score for s in scored],
            latency_seconds=latency,
        )
        return answer

    def _unkept(self, entry: ModelEntry, loaded: LoadedModel, exc: Exception) -> Answer:
        """The 503 for predictions made but not kept (their answers are never sent)."""
        self._metrics.error(model=entry.name, version=loaded.version, reason="unavailable")
        if isinstance(exc, SpoolFullError):
            return _json(503, {"detail": str(exc)})
        logger.error("could not write the prediction spool: %s", exc)
        return _json(503, {"detail": "the prediction spool cannot be written; "
                                     "try again shortly"})

    def _parse(self, body: bytes) -> PredictRequest:
        """The request's shape, or a 422 counted against the model it names (if served)."""
        try:
            return parse_request(body)
        except PayloadError as exc:
            entry = self._holder.get(exc.model) if exc.model else None
            loaded = entry.loaded if entry is not None else None
            self._metrics.error(
                model=entry.name if entry is not None else "",
                version=loaded.version if loaded is not None else None,
                reason="validation",
            )
            raise _RefusedError(_problems(exc.problems)) from None

    def _ready_model(self, name: str) -> tuple[ModelEntry, LoadedModel]:
        """The served model a request names, with its loaded version and a log to write to."""
        entry = self._holder.get(name)
        if entry is None:
            # Unknown names are not used as label values: clients could grow the series.
            self._metrics.error(model="", version=None, reason="unknown_model")
            known = ", ".join(sorted(self._holder.entries())) or "none"
            raise _RefusedError(
                _json(404, {"detail": f"no model named {name!r} (known: {known})"}))
        loaded = entry.loaded
        if loaded is None:
            self._metrics.error(model=entry.name, version=None, reason="unavailable")
            raise _RefusedError(_json(
                503, {"detail": f"model {entry.name!r} has no production version loaded"}))
        if not self._log.accepting:
            self._metrics.error(model=entry.name, version=loaded.version, reason="unavailable")
            raise _RefusedError(_json(
                503,
                {"detail": "the prediction log cannot reach the store; try again shortly"},
            ))
        return entry, loaded

    def _validate(self, entry: ModelEntry, loaded: LoadedModel, request: PredictRequest
                  ) -> list[dict[str, Any]]:
        """The request's records checked against the model's feature schema."""
        try:
            return validate_records(entry.feature_schema, request)
        except PayloadError as exc:
            self._metrics.error(model=entry.name, version=loaded.version, reason="validation")
            raise _RefusedError(_problems(exc.problems)) from None

    async def _score(self, entry: ModelEntry, loaded: LoadedModel,
                     records: list[dict[str, Any]]) -> list[ScoredRecord]:
        """The model's answers (on a worker thread); a model that fails to score is a 500."""
        try:
            return await self._batcher.score(
                model=loaded, schema=entry.feature_schema, records=records)
        except Exception as exc:
            logger.exception("model %r version %s failed to score", entry.name, loaded.version)
            self._metrics.error(model=entry.name, version=loaded.version, reason="model_error")
            raise _RefusedError(_json(
                500,
                {"detail": f"model {entry.name!r} failed to score: {exc.__class__.__name__}"},
            )) from None


class _RefusedError(Exception):
    """A step of :meth:`Predictor.handle` refused the request with ``answer``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _log_rows(entry: ModelEntry, loaded: LoadedModel, *, ts: datetime, ids: Sequence[str],
              records: Sequence[dict[str, Any]], scored: Sequence[ScoredRecord],
              latency_ms: float) -> list[dict[str, Any]]:
    """The prediction log's rows of one answered request."""
    return [
        {
            "id": pid,
            "model_id": entry.model_id,
            "version_id": loaded.version_id,
            "ts": ts,
            "features": record,
            "predicted_class": s.predicted_class,
            "scores": s.probabilities,
            "top_score": s.top_score,
            "latency_ms": latency_ms,
        }
        for pid, record, s in zip(ids, records, scored, strict=True)
    ]


def _problems(problems: tuple[Problem, ...]) -> Answer:
    return _json(422, {"detail": [p.as_json() for p in problems]})
