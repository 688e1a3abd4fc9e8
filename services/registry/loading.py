"""Loading one version's artifact as a model that can score its features.

Shared by the inference service (which serves the production version) and shadow scoring
(which answers logged requests with a candidate): both load a version through
:func:`load_model`, so both check its sha256 first and refuse what cannot score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.registry.artifacts import load_artifact

__all__ = ["LoadedModel", "ModelLoadError", "load_model"]


class ModelLoadError(RuntimeError):
    """An artifact loaded but is not a model this service can serve."""


@dataclass(frozen=True)
class LoadedModel:
    """One model version loaded from its checked artifact.

    Attributes:
        version: the version number (what the metrics and responses show).
        version_id: the ``model_versions`` row id (what the prediction log stores).
        artifact_sha256: the hash the artifact was checked against.
        classes: the pipeline's ``classes_`` as strings, in ``predict_proba`` column order.
        pipeline: the fitted scikit-learn pipeline.
        columns: the input column order the pipeline was fitted on (its
            ``feature_names_in_``), or ``None`` to use the schema order.
    """

    version: int
    version_id: int
    artifact_sha256: str
    classes: tuple[str, ...]
    pipeline: Any
    columns: tuple[str, ...] | None = None


def load_model(
    *,
    version: int,
    version_id: int,
    artifact_path: str,
    artifact_sha256: str,
    feature_schema: Sequence[Mapping[str, Any]],
) -> LoadedModel:
    """Load and check one version's artifact.

    Raises:
        services.registry.artifacts.ArtifactError: the file is missing or its sha256 differs.
        ModelLoadError: the object cannot score this model's features.
    """
    pipeline = load_artifact(Path(artifact_path), artifact_sha256)
    if not callable(getattr(pipeline, "predict_proba", None)):
        raise ModelLoadError(f"artifact {artifact_path} has no predict_proba")
    classes = getattr(pipeline, "classes_", None)
    if classes is None or len(classes) < 2:
        raise ModelLoadError(f"artifact {artifact_path} has fewer than two classes_")
    fitted = getattr(pipeline, "feature_names_in_", None)
    columns = None if fitted is None else tuple(str(n) for n in fitted)
    names = [str(spec["name"]) for spec in feature_schema]
    if columns is not None and sorted(columns) != sorted(names):
        raise ModelLoadError(
            f"artifact {artifact_path} was fitted on columns {list(columns)} "
            f"but the model's feature schema lists {names}"
        )
    return LoadedModel(
        version=version,
        version_id=version_id,
        artifact_sha256=artifact_sha256,
        classes=tuple(str(c) for c in classes),
        pipeline=pipeline,
        columns=columns,
    )
