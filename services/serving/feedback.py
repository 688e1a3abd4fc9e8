"""``POST /feedback``: ground-truth labels for served predictions, from other systems.

Single: ``{"prediction_id": "...", "label": "...", "labeler": "..."?, "replace": false?}``.
Batch: ``{"labels": [{"prediction_id", "label", "labeler"?}, ...], "replace": false?}`` (at
most :data:`MAX_LABELS`).

Only a client holding ``OPSDASH_FEEDBACK_TOKEN`` (``Authorization: Bearer <token>``) may
post; the labels are stored as the principal ``feedback-api`` (role labeler) with source
``api``, through the same check-then-save as a CSV import: all labels of a request or none.
``labeler`` names who labeled, as the caller knows them: it is stored as
``feedback-api:<labeler>`` (default ``feedback-api``), so a label from the API never reads as
the work of a dashboard user.

Answers: 200 ``{"saved", "unchanged", "replaced"}``; 401 without the right token; 413 for
a body over :data:`MAX_BODY_BYTES`, chunked or not (read no further); 422 ``{"detail":
[{"field", "message", "instance"?}]}`` for a bad body (see :mod:`services.serving.body`), a
value that is not valid text or is longer than ``MAX_CATEGORY_CHARS``, an unknown prediction
or a label that is not a class of its model; 409 with ``conflicts`` when a label differs from
the stored one and ``replace`` is not true; 503 when no token is configured or the database
is busy. Never a traceback.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from services.access.principal import FEEDBACK_API
from services.labels.importer import (
    API_LABELER_PREFIX,
    ImportConflictError,
    LabelImportError,
    LabelRow,
    save_label_rows,
)
from services.labels.save import LabelsNotSavedError, SaveResult
from services.registry.features import FeatureError, check_category
from services.serving.body import BodyError, BodyTooLargeError, loads, read_capped, too_large
from services.serving.payload import Problem
from services.settings import Settings

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_LABELS",
    "MIN_TOKEN_LENGTH",
    "FeedbackError",
    "FeedbackRequest",
    "feedback_route",
    "parse_feedback",
]

logger = logging.getLogger(__name__)

#: Most labels one request may carry (about 3 s of writing on SQLite).
MAX_LABELS = 1000
#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 1024 * 1024
#: Shortest ``OPSDASH_FEEDBACK_TOKEN`` accepted.
MIN_TOKEN_LENGTH = 16

_ITEM_FIELDS = ("prediction_id", "label", "labeler")
#: Longest ``labeler`` a caller may send: ``feedback-api:<labeler>`` fits feedback.labeler.
_LABELER_MAX = 100 - len(API_LABELER_PREFIX)
_SINGLE_FIELDS = (*_ITEM_FIELDS, "replace")
_BATCH_FIELDS = ("labels", "replace")


@dataclass(frozen=True)
class FeedbackRequest:
    """A well-formed request: the labels (``line`` = index in ``labels``, 0 when single)."""

    rows: tuple[LabelRow, ...]
    replace: bool
    batch: bool


class FeedbackError(ValueError):
    """The body is not a feedback request; ``problems`` says why (the 422 answer's detail)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def _item(data: dict[str, Any], index: int | None, allowed: tuple[str, ...],
          problems: list[Problem]) -> LabelRow | None:
    found = len(problems)
    problems.extend(Problem(str(key), f"is not a field; expected {', '.join(allowed)}", index)
                    for key in sorted(set(data) - set(allowed), key=str))
    for name in ("prediction_id", "label"):
        value = data.get(name)
        if name not in data:
            problems.append(Problem(name, "is missing", index))
        elif not isinstance(value, str) or not value.strip():
            problems.append(Problem(name, "must be a non-empty string", index))
        else:
            _text(name, value, index, problems)
    labeler = data.get("labeler")
    if labeler is not None and not isinstance(labeler, str):
        problems.append(Problem("labeler", "must be a string or null", index))
    elif labeler and len(labeler) > _LABELER_MAX:
        problems.append(Problem("labeler", f"must have 1 to {_LABELER_MAX} characters", index))
    elif labeler is not None:
        _text("labeler", labeler, index, problems)
    if len(problems) > found:
        return None
    return LabelRow(line=index or 0, prediction_id=data["prediction_id"], label=data["label"],
                    labeler=labeler or None)


def _text(name: str, value: str, index: int | None, problems: list[Problem]) -> None:
    """A string we can store and look up: valid text, at most ``MAX_CATEGORY_CHARS``."""
    try:
        check_category(name, value)
    except FeatureError as exc:
        problems.append(Problem(name, exc.message, index))


def parse_feedback(body: bytes) -> FeedbackRequest:
    """Parse and shape-check a ``POST /feedback`` body.

    Raises:
        FeedbackError: the body is not JSON or its fields are wrong.
    """
    try:
        data = loads(body)
    except BodyError as exc:
        raise FeedbackError([Problem("body", exc.message)]) from None
    if not isinstance(data, dict):
        raise FeedbackError([Problem("body", "must be a JSON object")])
    problems: list[Problem] = []
    replace = data.get("replace", False)
    if not isinstance(replace, bool):
        problems.append(Problem("replace", "must be true or false"))
    if "labels" not in data:
        row = _item(data, None, _SINGLE_FIELDS, problems)
        rows = [row] if row else []
    else:
        rows = _batch(data, problems)
    if problems:
        raise FeedbackError(problems)
    return FeedbackRequest(rows=tuple(rows), replace=bool(replace), batch="labels" in data)


def _batch(data: dict[str, Any], problems: list[Problem]) -> list[LabelRow]:
    """The rows of a batch request; what is wrong with it goes to ``problems``."""
    problems.extend(Problem(str(key), "is not a field of a batch; expected labels, replace")
                    for key in sorted(set(data) - set(_BATCH_FIELDS), key=str))
    items = data["labels"]
    if not isinstance(items, list) or not items:
        problems.append(Problem("labels", "must be a non-empty list of label objects"))
        return []
    if len(items) > MAX_LABELS:
        problems.append(Problem("labels", f"has {len(items)} items; at most {MAX_LABELS}"))
        return []
    rows: list[LabelRow] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Problem("labels", "must be an object", index))
        elif row := _item(item, index, _ITEM_FIELDS, problems):
            rows.append(row)
    return rows


def _json(status: int, body: dict[str, Any], **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers or None)


def _refused(request: FeedbackRequest, exc: LabelImportError) -> JSONResponse:
    def where(line: int) -> int | None:
        return line if request.batch else None

    if isinstance(exc, ImportConflictError):
        return _json(409, {
            "detail": f"{len(exc.conflicts)} label(s) differ from the stored ones; nothing was "
                      'stored (send "replace": true to overwrite them)',
            "conflicts": [
                {"instance": where(line), "prediction_id": c.prediction_id,
                 "stored_label": c.stored_label, "stored_by": c.stored_by,
                 "stored_at": c.stored_at.isoformat(), "your_label": c.your_label}
                for line, c in exc.conflicts
            ],
        })
    problems = [Problem(e.column or "labels", e.message, where(e.line)) for e in exc.errors]
    return _json(422, {"detail": [p.as_json() for p in problems]
                       or [{"field": "labels", "message": exc.summary}]})


def _authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def feedback_route(
    *, engine: Engine, settings: Settings, flush_predictions: Callable[[], object]
) -> Callable[[Request], Awaitable[Response]]:
    """The ``POST /feedback`` handler for the store behind ``engine``.

    Args:
        engine: the store.
        settings: ``feedback_token``.
        flush_predictions: writes the predictions this service has answered but not yet
            stored, so feedback can follow a prediction at once (called, in a worker
            thread, only when the check refuses a prediction id; then the save is tried
            once more).
    """
    token = settings.feedback_token

    async def feedback(request: Request) -> Response:
        refused = _refused_caller(request.headers.get("authorization"), token)
        if refused is not None:
            return refused  # before the body is read: CloseUnreadBodies closes the connection
        try:
            body = await read_capped(request, MAX_BODY_BYTES)
        except BodyTooLargeError as exc:
            return too_large(exc.limit)
        try:
            parsed = parse_feedback(body)
        except FeedbackError as exc:
            return _json(422, {"detail": [p.as_json() for p in exc.problems]})
        return await _saved(engine, parsed, flush_predictions)

    return feedback


def _refused_caller(authorization: str | None, token: str) -> JSONResponse | None:
    """The answer to a caller without the right token (``None``: let it in)."""
    if len(token) < MIN_TOKEN_LENGTH:
        return _json(503, {"detail": "feedback is off: set OPSDASH_FEEDBACK_TOKEN (at "
                                     f"least {MIN_TOKEN_LENGTH} characters) on the "
                                     "inference service"})
    if not _authorized(authorization, token):
        return _json(401, {"detail": "missing or wrong bearer token"},
                     **{"WWW-Authenticate": "Bearer"})
    return None


def _store(engine: Engine, request: FeedbackRequest, flush_predictions: Callable[[], object]
           ) -> SaveResult:
    """Save the request's labels; once more after a flush if a prediction id was unknown."""

    def save() -> SaveResult:
        return save_label_rows(engine=engine, actor=FEEDBACK_API, rows=request.rows,
                               source="api", replace=request.replace,
                               where="item" if request.batch else "line")

    try:
        return save()
    except ImportConflictError:
        raise
    except LabelImportError as exc:
        if not any(e.column == "prediction_id" for e in exc.errors):
            raise
        # A prediction answered a moment ago may still wait in the prediction log.
        flush_predictions()
        return save()


async def _saved(engine: Engine, parsed: FeedbackRequest,
                 flush_predictions: Callable[[], object]) -> JSONResponse:
    """Store the labels in a worker thread; the answer says what happened, never a traceback."""
    try:
        result = await run_in_threadpool(_store, engine, parsed, flush_predictions)
    except LabelImportError as exc:
        return _refused(parsed, exc)
    except LabelsNotSavedError:
        return _json(503, {"detail": "database busy, retry"}, **{"Retry-After": "1"})
    except SQLAlchemyError as exc:
        logger.error("feedback not stored: %s", exc.__class__.__name__, exc_info=exc)
        return _json(503, {"detail": "database unavailable, retry later"})
    except Exception:
        logger.exception("feedback not stored")
        return _json(500, {"detail": "internal error; nothing was stored (see the "
                                     "service log)"})
    return _json(200, {"saved": result.saved, "unchanged": result.unchanged,
                       "replaced": result.replaced})
