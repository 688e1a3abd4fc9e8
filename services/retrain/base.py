"""The model a retrain starts from: the production version's fitted pipeline.

Only a model whose pipeline we hold (a registered artifact that loads and matches its
sha256) retrains on this machine; one served elsewhere (imported prediction logs, no
artifact) retrains only through the hand-off to an outside pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from db.repositories import registry
from db.session import session_scope
from services.registry.artifacts import ArtifactError
from services.registry.loading import LoadedModel, ModelLoadError, load_model
from services.retrain.data import TrainingDataError

__all__ = ["BaseModel", "production_base"]


@dataclass(frozen=True)
class BaseModel:
    """The model's classes and schema, and its production version loaded."""

    classes: tuple[str, ...]
    schema: list[dict[str, Any]]
    production: LoadedModel


def production_base(engine: Engine, model: str) -> BaseModel:
    """The production version of ``model`` loaded through the registry's own checks.

    Raises:
        TrainingDataError: no such model, no production version, or its artifact is
            missing, does not match its sha256 or cannot score (each said in words, with
            what to do).
    """
    with session_scope(engine) as session:
        try:
            row = registry.get_model(session=session, name=model)
        except registry.RegistryError:
            raise TrainingDataError(
                f"there is no model called {model!r}; pick a registered model") from None
        version = registry.production_version(session=session, model_id=row.id)
        classes, schema = tuple(row.class_labels), list(row.feature_schema)
        if version is None:
            raise TrainingDataError(
                f"{model} has no production version to retrain from; promote one first")
        facts = (version.version, version.id, version.artifact_path, version.artifact_sha256)
    try:
        loaded = load_model(version=facts[0], version_id=facts[1], artifact_path=facts[2],
                            artifact_sha256=facts[3], feature_schema=schema)
    except (ArtifactError, ModelLoadError, OSError) as exc:
        raise TrainingDataError(
            f"{model} v{facts[0]} cannot be retrained here: {exc}. A model served elsewhere "
            f"retrains through the hand-off to its own pipeline") from None
    return BaseModel(classes=classes, schema=schema, production=loaded)
