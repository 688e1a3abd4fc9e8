"""What registering a trained candidate needs, with its artifact saved.

Registration itself (a ``model_versions`` row written in the same transaction that checks
the job's lease) belongs to the worker; :func:`save_candidate` writes the artifact first,
under a name no other version uses, and returns everything the row needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.registry.artifacts import save_artifact
from services.retrain.training import TrainingOutcome

__all__ = ["CandidateFiles", "save_candidate"]


@dataclass(frozen=True)
class CandidateFiles:
    """A saved candidate: what ``model_versions`` stores for it.

    Attributes:
        artifact_path: the pickled pipeline.
        artifact_sha256: its hash, checked before it is ever loaded.
        holdout_metrics: figures on the held-out newest rows and by cross-validation.
        train_window_start, train_window_end: the window trained from.
        fingerprint: the training set and run, JSON-ready.
        training_ids: the predictions trained on (for "was X trained on").
        reference_sample: the drift reference.
    """

    artifact_path: Path
    artifact_sha256: str
    holdout_metrics: dict[str, Any]
    train_window_start: datetime
    train_window_end: datetime
    fingerprint: dict[str, Any]
    training_ids: tuple[str, ...]
    reference_sample: list[dict[str, Any]]


def save_candidate(*, outcome: TrainingOutcome, model: str, artifacts_dir: Path,
                   start: datetime, end: datetime, job: int | None = None) -> CandidateFiles:
    """Save ``outcome``'s pipeline to ``artifacts_dir`` as
    ``<model>-job<job>-<random>.pkl`` (a new name each time: a crashed run's file is never
    overwritten by, or mistaken for, another's) and return what registration needs."""
    tag = f"job{job}-" if job is not None else ""
    path = artifacts_dir / f"{model}-{tag}{uuid.uuid4().hex[:12]}.pkl"
    sha = save_artifact(outcome.pipeline, path)
    return CandidateFiles(
        artifact_path=path, artifact_sha256=sha, holdout_metrics=dict(outcome.holdout_metrics),
        train_window_start=start, train_window_end=end, fingerprint=dict(outcome.fingerprint),
        training_ids=outcome.training_ids, reference_sample=outcome.reference_sample)
