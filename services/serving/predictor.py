"""One ``POST /predict`` request from body bytes to answer bytes, without any HTTP framework.

The request path reads only the in-memory :class:`ModelHolder`; the answered predictions
go to the :class:`PredictionLog` queue and the metrics. The database is never touched here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from db.base import utcnow
from services.predictions.ids import prediction_ids
from services.registry.scoring import score_records
from services.serving.metrics import ServingMetrics
from services.serving.model_holder import ModelHolder
from services.serving.payload import PayloadError, Problem, parse_request, validate_records
from services.serving.prediction_log import PredictionLog

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
    """

    def __init__(self, *, holder: ModelHolder, metrics: ServingMetrics, log: PredictionLog) -> None:
        self._holder = holder
        self._metrics = metrics
        self._log = log

    def handle(self, *, body: bytes, started: float | None = None) -> Answer:
        """Answer one request body.

        Args:
            body: the raw request body.
            started: ``time.perf_counter()`` when the request arrived (defaults to now);
                the latency metric and the logged ``latency_ms`` count from it.
        """
        t0 = time.perf_counter() if started is None else started
        try:
            request = parse_request(body)
        except PayloadError as exc:
            entry = self._holder.get(exc.model) if exc.model else None
            loaded = entry.loaded if entry is not None else None
            self._metrics.error(
                model=entry.name if entry is not None else "",
                version=loaded.version if loaded is not None else None,
                reason="validation",
            )
            return _problems(exc.problems)
        entry = self._holder.get(request.model)
        if entry is None:
            # Unknown names are not used as label values: clients could grow the series.
            self._metrics.error(model="", version=None, reason="unknown_model")
            known = ", ".join(sorted(self._holder.entries())) or "none"
            return _json(404, {"detail": f"no model named {request.model!r} (known: {known})"})
        loaded = entry.loaded
        if loaded is None:
            self._metrics.error(model=entry.name, version=None, reason="unavailable")
            return _json(503, {"detail": f"model {entry.name!r} has no production version loaded"})
        if not self._log.accepting:
            self._metrics.error(model=entry.name, version=loaded.version, reason="unavailable")
            return _json(
                503,
                {"detail": "the prediction log cannot reach the store; try again shortly"},
            )
        try:
            records = validate_records(entry.feature_schema, request)
        except PayloadError as exc:
            self._metrics.error(model=entry.name, version=loaded.version, reason="validation")
            return _problems(exc.problems)
        try:
            scored = score_records(model=loaded, schema=entry.feature_schema, records=records)
        except Exception as exc:
            logger.exception("model %r version %s failed to score", entry.name, loaded.version)
            self._metrics.error(model=entry.name, version=loaded.version, reason="model_error")
            return _json(
                500,
                {"detail": f"model {entry.name!r} failed to score: {exc.__class__.__name__}"},
            )
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
        self._metrics.predictions_served(
            model=entry.name,
            version=loaded.version,
            predicted_classes=[s.predicted_class for s in scored],
            top_scores=[s.top_score for s in scored],
            latency_seconds=latency,
        )
        latency_ms = latency * 1000.0
        self._log.submit(
            [
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
        )
        return answer


def _problems(problems: tuple[Problem, ...]) -> Answer:
    return _json(422, {"detail": [p.as_json() for p in problems]})
