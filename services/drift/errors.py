"""The one error the drift engine raises for input or configuration the caller must fix."""

from __future__ import annotations

__all__ = ["DriftError"]


class DriftError(ValueError):
    """Columns cannot be compared: a configuration or input the caller must fix."""
