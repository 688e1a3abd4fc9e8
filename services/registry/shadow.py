"""Shadow scoring: a version answers, after the fact, the requests another version served.

There is no live shadow traffic: :func:`shadow_score` loads a version's artifact exactly as
the inference service does (the sha256 the registry vouches for is checked before
unpickling), scores the logged features of the model's predictions that *other* versions
made, and stores its answers in ``shadow_predictions``. A run can be repeated at will:
predictions the version already answered are skipped. Two versions can then be compared
on the same labelled predictions (:func:`services.quality.compare.compare_versions`), and
the labeling queue can ask for the predictions where they disagree
(:func:`db.repositories.shadow.disagreements`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.repositories import shadow as store
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action
from services.audit import record
from services.registry.artifacts import ArtifactError
from services.registry.loading import LoadedModel

__all__ = ["DEFAULT_CHUNK", "ShadowError", "ShadowResult", "shadow_score"]

#: Predictions scored (and written, with one audit entry) per transaction.
DEFAULT_CHUNK = 5_000


class ShadowError(RuntimeError):
    """Shadow scoring cannot run; ``str()`` says why in one line. Nothing more is written."""


@dataclass(frozen=True)
class ShadowResult:
    """What one :func:`shadow_score` run did.

    Attributes:
        model: the model's name.
        version: the version number that scored.
        scored: answers written by this run.
        already_scored: predictions of the window the version had answered before the run.
        more: the limit stopped the run while predictions of the window were left.
        seconds: wall time taken.
    """

    model: str
    version: int
    scored: int
    already_scored: int
    more: bool
    seconds: float


@dataclass(frozen=True)
class _Target:
    model_id: int
    version_id: int
    class_labels: tuple[str, ...]
    feature_schema: tuple[dict[str, Any], ...]
    artifact_path: str
    artifact_sha256: str


def _target(engine: Engine, model: str, version: int) -> _Target:
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        vid = registry.version_row_id(session=session, model=found, version=version)
        row = next(v for v in found.versions if v.id == vid)
        return _Target(
            model_id=found.id, version_id=vid,
            class_labels=tuple(str(c) for c in found.class_labels),
            feature_schema=tuple(dict(spec) for spec in found.feature_schema),
            artifact_path=row.artifact_path, artifact_sha256=row.artifact_sha256,
        )


def shadow_score(
    *,
    engine: Engine,
    actor: Principal | None,
    model: str,
    version: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> ShadowResult:
    """Score the model's predictions made by other versions in ``[since, until)`` with ``version``.

    Newest predictions first, ``chunk`` at a time; each chunk is written in its own
    transaction with a ``shadow_score`` audit entry, so a long run never holds the store's
    write lock for long, and a run stopped half-way is finished by running it again.

    Args:
        engine: the store.
        actor: the caller; needs the retrain permission (operators and admins).
        model: the model's name.
        version: the version number that scores.
        since: only predictions made at or after this time (timezone-aware).
        until: only predictions made before this time (timezone-aware).
        limit: score at most this many predictions (``None``: all of the window).
        chunk: predictions per transaction.

    Raises:
        PermissionDenied: the caller may not do this (checked before anything is read).
        RegistryError: no such model or version.
        ShadowError: the artifact is missing, does not match its registered sha256, cannot
            score the model's features or answers other classes; or a logged prediction
            lacks a feature of the schema.
        ValueError: a naive time, an empty window, or a limit or chunk below 1.
    """
    require(actor, Action.RETRAIN)
    assert actor is not None  # require() refuses None
    began = time.perf_counter()
    _check_arguments(since=since, until=until, limit=limit, chunk=chunk)
    target = _target(engine, model, version)
    run = _Run(engine=engine, actor=actor, target=target, loaded=_load(target, model, version),
               model=model, version=version, since=since, until=until)
    with session_scope(engine) as session:
        already = store.scored_count(session=session, version_id=target.version_id,
                                     since=since, until=until)
    scored, more = _score_window(run, limit=limit, chunk=chunk)
    return ShadowResult(model=model, version=version, scored=scored, already_scored=already,
                        more=more, seconds=time.perf_counter() - began)


def _check_arguments(*, since: datetime | None, until: datetime | None, limit: int | None,
                     chunk: int) -> None:
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise ValueError("shadow scoring times must be timezone-aware")
    if since is not None and until is not None and since >= until:
        raise ValueError("since must be earlier than until")
    if (limit is not None and limit < 1) or chunk < 1:
        raise ValueError(f"limit and chunk must be at least 1, got {limit} and {chunk}")


@dataclass(frozen=True)
class _Run:
    """One scoring run: who scores which window with which loaded version."""

    engine: Engine
    actor: Principal
    target: _Target
    loaded: LoadedModel
    model: str
    version: int
    since: datetime | None
    until: datetime | None


_Batch = list[tuple[str, datetime, dict[str, Any]]]


def _unscored(run: _Run, *, limit: int, before: tuple[datetime, str] | None) -> _Batch:
    """The newest predictions of the window the version has not answered, before ``before``
    (the (time, id) of the last one scored)."""
    with session_scope(run.engine) as session:
        return store.unscored_predictions(
            session=session, model_id=run.target.model_id, version_id=run.target.version_id,
            since=run.since, until=run.until, limit=limit, before=before)


def _score_window(run: _Run, *, limit: int | None, chunk: int) -> tuple[int, bool]:
    """Score the window, newest first, ``chunk`` predictions a transaction; returns how
    many were scored and whether the limit left some of the window unscored."""
    scored = 0
    before: tuple[datetime, str] | None = None
    while True:
        room = chunk if limit is None else min(chunk, limit - scored)
        if room <= 0:
            return scored, bool(_unscored(run, limit=1, before=before))
        batch = _unscored(run, limit=room, before=before)
        if not batch:
            return scored, False
        scored += _write_chunk(run, batch,
                               _score(run.loaded, run.target, batch, run.model, run.version))
        before = (batch[-1][1], batch[-1][0])


def _write_chunk(run: _Run, batch: _Batch, rows: list[dict[str, Any]]) -> int:
    """Store one chunk's answers with its ``shadow_score`` audit entry; how many were new."""
    with session_scope(run.engine, write=True) as session:
        written = store.insert_shadow(session=session, rows=rows)
        record(session=session, actor=run.actor.username, action="shadow_score",
               object_type="model_version", object_id=f"{run.model}:v{run.version}",
               details={"scored": written, "newest": batch[0][1].isoformat(),
                        "oldest": batch[-1][1].isoformat(),
                        "since": run.since.isoformat() if run.since else None,
                        "until": run.until.isoformat() if run.until else None})
    return written


def _load(target: _Target, model: str, version: int) -> LoadedModel:
    from services.registry.loading import ModelLoadError, load_model

    if not target.artifact_path:
        raise ShadowError(
            f"cannot shadow-score {model} v{version}: it was registered without an artifact "
            "(a version served elsewhere); register one with `add-version --artifact`")
    try:
        loaded = load_model(version=version, version_id=target.version_id,
                            artifact_path=target.artifact_path,
                            artifact_sha256=target.artifact_sha256,
                            feature_schema=target.feature_schema)
    except (ArtifactError, ModelLoadError) as exc:
        raise ShadowError(f"cannot shadow-score {model} v{version}: {exc}") from None
    if sorted(loaded.classes) != sorted(target.class_labels):
        raise ShadowError(
            f"cannot shadow-score {model} v{version}: its artifact answers "
            f"{list(loaded.classes)} but the model's classes are {list(target.class_labels)}")
    return loaded


def _score(loaded: LoadedModel, target: _Target, batch: list[tuple[str, datetime, dict[str, Any]]],
           model: str, version: int) -> list[dict[str, Any]]:
    from services.registry.scoring import score_records

    names = [str(spec["name"]) for spec in target.feature_schema]
    for pid, _, features in batch:
        missing = [n for n in names if n not in features]
        if missing:
            raise ShadowError(f"cannot shadow-score {model} v{version}: prediction {pid} "
                              f"was logged without {', '.join(missing)}")
    try:
        answers = score_records(model=loaded, schema=target.feature_schema,
                                records=[features for _, _, features in batch])
    except Exception as exc:  # the pipeline's own error, whatever its type
        raise ShadowError(f"cannot shadow-score {model} v{version}: the model failed on "
                          f"logged features ({exc.__class__.__name__}: {exc})") from exc
    now = utcnow()
    return [
        {"prediction_id": pid, "version_id": target.version_id, "predicted_at": ts,
         "predicted_class": answer.predicted_class, "top_score": answer.top_score,
         "scores": answer.probabilities, "scored_at": now}
        for (pid, ts, _), answer in zip(batch, answers, strict=True)
    ]
