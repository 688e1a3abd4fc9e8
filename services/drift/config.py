"""Per-feature drift tests and thresholds from a TOML file, and the dataset's drift share.

The automatic choice of :mod:`services.drift.registry` fits most columns; a team that knows better
names a test or a threshold for a feature, for every model or for one::

    drift_share = 0.5            # optional; else OPSDASH_DRIFT_SHARE (0.5)

    [features.monthly_charges]   # a feature of any model with this name
    test = "psi"
    threshold = 0.2

    [models.churn]
    drift_share = 0.4

    [models.churn.features.tenure_months]
    threshold = 0.01             # keep the automatic test, demand stronger evidence

A model's own entry wins over the shared one, field by field. The file is named by
``OPSDASH_DRIFT_CONFIG_FILE`` (dashboard) or ``--config`` (command line).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.drift.compare import ColumnConfig
from services.drift.errors import DriftError

__all__ = ["DriftConfig", "DriftConfigError", "load_drift_config", "parse_drift_config"]

_TOP_KEYS = {"drift_share", "features", "models"}
_FEATURE_KEYS = {"test", "threshold"}
_MODEL_KEYS = {"drift_share", "features"}


class DriftConfigError(ValueError):
    """The drift configuration cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class DriftConfig:
    """Overrides read from the file (empty when there is none)."""

    drift_share: float | None = None
    features: Mapping[str, ColumnConfig] = field(default_factory=dict)
    models: Mapping[str, tuple[float | None, Mapping[str, ColumnConfig]]] = field(
        default_factory=dict
    )

    def share_for(self, model: str | None, default: float) -> float:
        """The drift share for ``model``: its own, the file's, else ``default``."""
        own = self.models.get(model, (None, {}))[0] if model else None
        if own is not None:
            return own
        return self.drift_share if self.drift_share is not None else default

    def columns_for(self, model: str | None) -> dict[str, ColumnConfig]:
        """Per-feature overrides for ``model``, its own merged over the shared ones."""
        merged = dict(self.features)
        own = self.models.get(model, (None, {}))[1] if model else {}
        for name, config in own.items():
            shared = merged.get(name, ColumnConfig())
            merged[name] = ColumnConfig(
                test=config.test if config.test is not None else shared.test,
                threshold=config.threshold if config.threshold is not None else shared.threshold,
            )
        return merged


def load_drift_config(path: str | Path | None) -> DriftConfig:
    """Read the file; an empty path means no overrides.

    Raises:
        DriftConfigError: the file is missing, not TOML, or holds an unknown key, test or
            a threshold / share out of range.
    """
    if not path:
        return DriftConfig()
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DriftConfigError(f"drift configuration {source}: cannot be read ({exc})") from exc
    return parse_drift_config(text, origin=str(source))


def parse_drift_config(text: str, *, origin: str = "drift configuration") -> DriftConfig:
    """Parse the TOML text (see the module docstring)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DriftConfigError(f"{origin}: not valid TOML ({exc})") from exc
    _no_unknown(document, _TOP_KEYS, origin, "")
    models: dict[str, tuple[float | None, Mapping[str, ColumnConfig]]] = {}
    for model, entry in _table(document.get("models", {}), origin, "models").items():
        where = f"models.{model}"
        table = _table(entry, origin, where)
        _no_unknown(table, _MODEL_KEYS, origin, where)
        models[model] = (
            _share(table.get("drift_share"), origin, f"{where}.drift_share"),
            _features(table.get("features", {}), origin, f"{where}.features"),
        )
    return DriftConfig(
        drift_share=_share(document.get("drift_share"), origin, "drift_share"),
        features=_features(document.get("features", {}), origin, "features"),
        models=models,
    )


def _features(value: Any, origin: str, where: str) -> dict[str, ColumnConfig]:
    out: dict[str, ColumnConfig] = {}
    for name, entry in _table(value, origin, where).items():
        here = f"{where}.{name}"
        table = _table(entry, origin, here)
        _no_unknown(table, _FEATURE_KEYS, origin, here)
        test = table.get("test")
        if test is not None and not isinstance(test, str):
            raise DriftConfigError(f"{origin}: {here}.test must be a test name")
        threshold = table.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float))
        ):
            raise DriftConfigError(f"{origin}: {here}.threshold must be a number")
        try:
            out[name] = ColumnConfig(
                test=test, threshold=None if threshold is None else float(threshold)
            )
        except DriftError as exc:
            raise DriftConfigError(f"{origin}: {here}: {exc}") from exc
    return out


def _share(value: Any, origin: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DriftConfigError(f"{origin}: {where} must be a number")
    share = float(value)
    if not (math.isfinite(share) and 0.0 < share <= 1.0):
        raise DriftConfigError(f"{origin}: {where} must be in (0, 1], got {value}")
    return share


def _table(value: Any, origin: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DriftConfigError(f"{origin}: {where} must be a table")
    return value


def _no_unknown(table: Mapping[str, Any], allowed: set[str], origin: str, where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        place = f"{where}: " if where else ""
        raise DriftConfigError(
            f"{origin}: {place}unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )
