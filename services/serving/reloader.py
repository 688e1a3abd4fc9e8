"""Follows the registry's production pointers and loads newly promoted versions.

A background thread polls every ``model_reload_seconds``; a promotion is therefore served
within one interval plus the load time, without a restart. A version whose artifact is
missing, tampered with (sha256 mismatch) or unusable is refused with a logged error, and
the version already in memory keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from db.repositories.registry import list_models, production_version
from db.session import session_scope
from services.registry.loading import LoadedModel, load_model
from services.serving.metrics import ServingMetrics
from services.serving.model_holder import ModelEntry, ModelHolder

__all__ = ["ModelReloader", "ProductionTarget"]

logger = logging.getLogger(__name__)

#: Seconds before a version that failed to load is tried again (its file may be fixed).
FAILED_RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class ProductionTarget:
    """What the registry says a model should serve (read in one short transaction)."""

    name: str
    model_id: int
    feature_schema: tuple[Mapping[str, Any], ...]
    version: int | None = None
    version_id: int | None = None
    artifact_path: str = ""
    artifact_sha256: str = ""


def read_targets(engine: Engine) -> list[ProductionTarget]:
    """Every registered model with its production version (if any)."""
    targets: list[ProductionTarget] = []
    with session_scope(engine) as session:
        for model in list_models(session=session):
            pv = production_version(session=session, model_id=model.id)
            schema = tuple(dict(spec) for spec in model.feature_schema)
            if pv is None:
                targets.append(
                    ProductionTarget(name=model.name, model_id=model.id, feature_schema=schema)
                )
                continue
            targets.append(
                ProductionTarget(
                    name=model.name,
                    model_id=model.id,
                    feature_schema=schema,
                    version=pv.version,
                    version_id=pv.id,
                    artifact_path=pv.artifact_path,
                    artifact_sha256=pv.artifact_sha256,
                )
            )
    return targets


class ModelReloader:
    """Keeps a :class:`ModelHolder` in step with the registry.

    Args:
        engine: the feedback store.
        holder: the table the request path reads.
        metrics: updated (``opsdash_model_info``) on every switch.
        interval_seconds: seconds between two polls of the registry.
        clock: monotonic clock (replaceable in tests).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        holder: ModelHolder,
        metrics: ServingMetrics,
        interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._holder = holder
        self._metrics = metrics
        self._interval = max(0.05, interval_seconds)
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # version_id -> (sha256 tried, monotonic time of the failure)
        self._failed: dict[int, tuple[str, float]] = {}
        # model name -> why its production version is not the one served
        self._refused: dict[str, str] = {}
        self.last_error: str = ""

    def refused(self) -> dict[str, str]:
        """Models whose production version could not be loaded, with the reason.

        Such a model keeps serving the version it had (if any); see ``/healthz``.
        """
        return dict(sorted(self._refused.items()))

    def start(self) -> None:
        """Start polling in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="opsdash-model-reloader", daemon=True
        )
        self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop polling and wait for a load in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    def refresh(self) -> None:
        """One poll: read the production pointers and load whatever changed.

        Never raises: a database or artifact problem is logged and the models already
        in memory keep serving.
        """
        try:
            targets = read_targets(self._engine)
        except SQLAlchemyError as exc:
            self.last_error = f"cannot read the model registry: {exc.__class__.__name__}"
            logger.warning("%s: %s", self.last_error, exc)
            return
        self.last_error = ""
        seen = set()
        for target in targets:
            seen.add(target.name)
            try:
                self._apply(target)
            except Exception:
                # A bug in one model's load must not stop the others or the thread.
                logger.exception("unexpected error while refreshing model %r", target.name)
        for name, entry in self._holder.entries().items():
            if name not in seen:
                self._holder.remove(name)
                self._refused.pop(name, None)
                if entry.loaded is not None:
                    self._metrics.model_unloaded(model=name, version=entry.loaded.version)
                logger.warning("model %r is no longer registered; stopped serving it", name)

    def _apply(self, target: ProductionTarget) -> None:
        current = self._holder.get(target.name)
        loaded = current.loaded if current is not None else None
        if target.version_id is None or target.version is None:
            self._serve_nothing(target, current)
            return
        if (
            loaded is not None
            and loaded.version_id == target.version_id
            and (loaded.artifact_sha256 == target.artifact_sha256)
        ):
            self._refused.pop(target.name, None)
            if current is not None and current.feature_schema != target.feature_schema:
                self._holder.put(_entry(target, loaded))
            return
        if self._recently_failed(target):
            if current is None:
                self._holder.put(_entry(target, None))
            return
        new = self._load(target, current, version=target.version, version_id=target.version_id)
        if new is not None:
            self._serve(target, new, previous=loaded)

    def _serve_nothing(self, target: ProductionTarget, current: ModelEntry | None) -> None:
        """The model has no production version: stop serving whatever it served."""
        loaded = current.loaded if current is not None else None
        self._refused.pop(target.name, None)
        if loaded is not None:
            self._metrics.model_unloaded(model=target.name, version=loaded.version)
            logger.warning("model %r has no production version any more", target.name)
        if current is None or loaded is not None or current.feature_schema != target.feature_schema:
            self._holder.put(_entry(target, None))

    def _load(self, target: ProductionTarget, current: ModelEntry | None, *, version: int,
              version_id: int) -> LoadedModel | None:
        """The target's version from its artifact; ``None`` (logged, remembered) if refused."""
        try:
            return load_model(
                version=version,
                version_id=version_id,
                artifact_path=target.artifact_path,
                artifact_sha256=target.artifact_sha256,
                feature_schema=target.feature_schema,
            )
        except Exception as exc:
            loaded = current.loaded if current is not None else None
            self._failed[version_id] = (target.artifact_sha256, self._clock())
            self._refused[target.name] = f"version {version} refused: {exc}"
            keeping = f"still serving version {loaded.version}" if loaded else "nothing served"
            logger.error(
                "refusing version %s of model %r: %s (%s)",
                version,
                target.name,
                exc,
                keeping,
            )
            if current is None:
                self._holder.put(_entry(target, None))
            return None

    def _serve(self, target: ProductionTarget, new: LoadedModel, *,
               previous: LoadedModel | None) -> None:
        """Switch the request path to ``new``, replacing ``previous`` (if any)."""
        self._failed.pop(new.version_id, None)
        self._refused.pop(target.name, None)
        self._holder.put(_entry(target, new))
        was = previous.version if previous is not None else None
        self._metrics.model_loaded(
            model=target.name, version=new.version, classes=new.classes, previous=was
        )
        logger.info(
            "serving model %r version %s%s",
            target.name,
            new.version,
            f" (was version {was})" if was is not None else "",
        )

    def _recently_failed(self, target: ProductionTarget) -> bool:
        assert target.version_id is not None
        failure = self._failed.get(target.version_id)
        if failure is None:
            return False
        sha, when = failure
        # A re-registered hash is a new attempt; so is the same one after a while.
        return sha == target.artifact_sha256 and self._clock() - when < FAILED_RETRY_SECONDS


def _entry(target: ProductionTarget, loaded: LoadedModel | None) -> ModelEntry:
    return ModelEntry(
        name=target.name,
        model_id=target.model_id,
        feature_schema=target.feature_schema,
        loaded=loaded,
    )
