"""Registering models and versions served by other stacks, so their logs can be imported.

A model is a name, a task (``binary`` or ``multiclass``), its classes in probability order
and its feature schema (``[{"name", "type": "number" | "category"}]``, what the inference
service and ``import-predictions`` check a row against). A version is the model's next
number, registered as a candidate, with or without an artifact: a version served by
another stack has none here (it cannot be shadow-scored or give the Drift page a training
sample); with one, the artifact is loaded once to check it answers the model's classes
from its features, and its SHA-256 is stored so every later load is checked against it.

Both changes are checked in full before anything is written, made in one transaction with
their audit entry, and allowed to admins and operators (:data:`Action.REGISTER_MODELS`).
Promoting a version to production is not done here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from db.models import TASKS
from db.repositories import registry
from db.session import session_scope
from services.access import Action, Principal, require
from services.audit import record
from services.registry.artifacts import ArtifactError, sha256_of
from services.registry.log_columns import LATENCY_COLUMN, REQUIRED_COLUMNS, SCORE_PREFIX

__all__ = [
    "FEATURE_TYPES",
    "RegisteredModel",
    "RegisteredVersion",
    "RegistrationError",
    "checked_artifact",
    "parse_feature",
    "register_model",
    "register_version",
]

FEATURE_TYPES = ("number", "category")
#: Names a model may take: they appear in URLs, PromQL label values and file columns.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_LABEL_MAX = 100  # width of predictions.predicted_class and feedback.label
_FEATURE_MAX = 100
#: Columns of a prediction log that are not features (see ``services.registry.log_columns``).
_RESERVED_FEATURES = frozenset({*REQUIRED_COLUMNS, LATENCY_COLUMN})


class RegistrationError(ValueError):
    """The model or version cannot be registered; nothing was written."""


@dataclass(frozen=True)
class RegisteredModel:
    """A model as registered."""

    name: str
    task: str
    classes: tuple[str, ...]
    features: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class RegisteredVersion:
    """A version as registered: a candidate, with its artifact's path and SHA-256 or none."""

    model: str
    version: int
    artifact_path: str
    artifact_sha256: str


def _text_problem(value: str, what: str, limit: int) -> str | None:
    if not value or not value.strip():
        return f"{what} is empty"
    if value != value.strip():
        return f"{what} {value!r} starts or ends with spaces"
    if len(value) > limit:
        return f"{what} {value[:20]!r}… is longer than {limit} characters"
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        return f"{what} {value!r} holds control characters"
    return None


def parse_feature(text: str) -> dict[str, Any]:
    """``NAME:TYPE`` (``TYPE`` number or category) as a feature schema entry.

    A category feature may list its known categories: ``plan:category:basic|pro`` (for
    information; other categories are accepted and show as drift).

    Raises:
        RegistrationError: not in that form.
    """
    name, sep, rest = text.partition(":")
    kind, _, categories = rest.partition(":")
    if not sep or kind not in FEATURE_TYPES:
        raise RegistrationError(
            f"feature {text!r}: write NAME:number or NAME:category (optionally "
            "NAME:category:a|b|c)")
    spec: dict[str, Any] = {"name": name, "type": kind}
    if categories:
        if kind != "category":
            raise RegistrationError(f"feature {text!r}: only a category feature lists values")
        spec["categories"] = categories.split("|")
    return spec


def _feature_problems(features: Sequence[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if not features:
        return ["a model needs at least one feature"]
    seen: set[str] = set()
    for spec in features:
        name = spec.get("name")
        if not isinstance(name, str):
            problems.append(f"feature {spec!r} has no name")
            continue
        problem = _text_problem(name, "feature name", _FEATURE_MAX)
        if problem:
            problems.append(problem)
        elif name in _RESERVED_FEATURES or name.startswith(SCORE_PREFIX):
            problems.append(f"feature name {name!r} is a column of prediction logs "
                            f"({', '.join(sorted(_RESERVED_FEATURES))}, {SCORE_PREFIX}…)")
        elif name in seen:
            problems.append(f"feature {name!r} is given twice")
        seen.add(name)
        if spec.get("type") not in FEATURE_TYPES:
            problems.append(f"feature {name!r}: type must be number or category, "
                            f"not {spec.get('type')!r}")
        categories = spec.get("categories")
        if categories is not None and (
                spec.get("type") != "category" or not isinstance(categories, list)
                or not all(isinstance(c, str) and c for c in categories)):
            problems.append(f"feature {name!r}: categories must be a list of names of a "
                            "category feature")
        extra = sorted(set(spec) - {"name", "type", "categories"})
        if extra:
            problems.append(f"feature {name!r}: unknown keys {', '.join(extra)}")
    return problems


def _model_problems(name: str, task: str, classes: Sequence[str]) -> list[str]:
    problems: list[str] = []
    if not _MODEL_NAME.fullmatch(name):
        problems.append(f"model name {name[:40]!r}: 1 to 100 letters, digits, '.', '_' or "
                        "'-', starting with a letter or digit")
    if task not in TASKS:
        problems.append(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    for label in classes:
        problem = _text_problem(label, "class", _LABEL_MAX)
        if problem:
            problems.append(problem)
    repeated = sorted({c for c in classes if list(classes).count(c) > 1})
    if repeated:
        problems.append(f"classes given twice: {', '.join(map(repr, repeated))}")
    if task == "binary" and len(classes) != 2:
        problems.append(f"a binary model has exactly 2 classes, not {len(classes)}")
    if task == "multiclass" and len(classes) < 3:
        problems.append(f"a multiclass model has at least 3 classes, not {len(classes)} "
                        "(two classes: --task binary)")
    return problems


def register_model(
    *,
    engine: Engine,
    actor: Principal | None,
    name: str,
    task: str,
    classes: Sequence[str],
    features: Sequence[dict[str, Any]],
    description: str = "",
) -> RegisteredModel:
    """Register a new model without versions, audited as ``register_model``.

    Raises:
        PermissionDenied: ``actor`` may not register models.
        RegistrationError: every problem with the arguments at once, or the name is taken.
    """
    principal = require(actor, Action.REGISTER_MODELS)
    classes = list(classes)
    features = [dict(spec) for spec in features]
    problems = _model_problems(name, task, classes) + _feature_problems(features)
    if problems:
        raise RegistrationError("; ".join(problems))
    with session_scope(engine, write=True) as session:
        if registry.model_exists(session=session, name=name):
            raise RegistrationError(f"a model named {name!r} is already registered")
        registry.create_model(session=session, name=name, task=task, class_labels=classes,
                              feature_schema=features, description=description)
        record(session=session, actor=principal.username, action="register_model",
               object_type="model", object_id=name,
               details={"task": task, "classes": classes,
                        "features": [f"{f['name']}:{f['type']}" for f in features]})
    return RegisteredModel(name=name, task=task, classes=tuple(classes),
                           features=tuple(features))


def _check_artifact(path: Path, sha256: str, model: _Model) -> None:
    """Load the artifact as the inference service would and compare its classes."""
    from services.registry.loading import ModelLoadError, load_model

    try:
        loaded = load_model(version=0, version_id=0, artifact_path=str(path),
                            artifact_sha256=sha256, feature_schema=model.features)
    except (ArtifactError, ModelLoadError) as exc:
        raise RegistrationError(f"the artifact cannot serve {model.name}: {exc}") from None
    except Exception as exc:  # unpickling runs the file's own code
        raise RegistrationError(
            f"the artifact {path} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if sorted(loaded.classes) != sorted(model.classes):
        raise RegistrationError(
            f"the artifact answers {list(loaded.classes)} but {model.name}'s classes are "
            f"{list(model.classes)}")


@dataclass(frozen=True)
class _Model:
    id: int
    name: str
    classes: tuple[str, ...]
    features: tuple[dict[str, Any], ...]


def _find(engine: Engine, name: str) -> _Model:
    with session_scope(engine) as session:
        try:
            found = registry.get_model(session=session, name=name)
        except registry.RegistryError:
            names = [m.name for m in registry.list_models(session=session)]
            raise RegistrationError(
                f"no model named {name!r} (registered: {', '.join(names) or 'none'})"
            ) from None
        return _Model(id=found.id, name=found.name,
                      classes=tuple(str(c) for c in found.class_labels),
                      features=tuple(dict(f) for f in found.feature_schema))


def checked_artifact(*, engine: Engine, model: str, artifact: Path) -> tuple[str, str]:
    """The artifact's resolved path and SHA-256, once loaded as the inference service would
    and found to answer ``model``'s classes (do it before taking a write lock: unpickling a
    model can take a while).

    Raises:
        RegistrationError: no such model, or the artifact is missing, unreadable or does
            not answer the model's classes.
    """
    found = _find(engine, model)
    resolved = artifact.expanduser().resolve()
    if not resolved.is_file():
        raise RegistrationError(f"the artifact {artifact} is not a file")
    sha256 = sha256_of(resolved)
    _check_artifact(resolved, sha256, found)
    return str(resolved), sha256


def register_version(
    *,
    engine: Engine,
    actor: Principal | None,
    model: str,
    artifact: Path | None = None,
    notes: str = "",
) -> RegisteredVersion:
    """Register the model's next version as a candidate, audited as ``register_version``.

    Args:
        artifact: a pickled scikit-learn pipeline with ``predict_proba`` over the model's
            features; ``None`` for a version served elsewhere.

    Raises:
        PermissionDenied: ``actor`` may not register models.
        RegistrationError: no such model, or the artifact is missing, unreadable or does not
            answer the model's classes.
    """
    principal = require(actor, Action.REGISTER_MODELS)
    found = _find(engine, model)
    path, sha256 = ("", "") if artifact is None else checked_artifact(
        engine=engine, model=model, artifact=artifact)
    with session_scope(engine, write=True) as session:
        version = registry.add_version(session=session, model_id=found.id, artifact_path=path,
                                       artifact_sha256=sha256, created_by=principal.username,
                                       notes=notes)
        record(session=session, actor=principal.username, action="register_version",
               object_type="model_version", object_id=f"{model}:v{version.version}",
               details={"artifact_sha256": sha256 or None, "notes": notes})
        number = version.version
    return RegisteredVersion(model=model, version=number, artifact_path=path,
                             artifact_sha256=sha256)
