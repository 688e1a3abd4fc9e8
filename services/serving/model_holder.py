"""The in-memory table of served models that the request path reads (never the database).

The reloader thread is the only writer; it replaces whole entries, so a request that took
an entry keeps a consistent model, version and schema for its whole life.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.registry.loading import LoadedModel

__all__ = ["ModelEntry", "ModelHolder"]


@dataclass(frozen=True)
class ModelEntry:
    """A model the registry knows, with the version loaded for it, if any.

    Attributes:
        name: the model's name, as requests name it.
        model_id: the ``models`` row id.
        feature_schema: the schema requests are validated against.
        loaded: the production version in memory; ``None`` until one has loaded.
    """

    name: str
    model_id: int
    feature_schema: tuple[Mapping[str, Any], ...]
    loaded: LoadedModel | None = None


class ModelHolder:
    """Name → :class:`ModelEntry`, swapped atomically by copy-on-write."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._write_lock = threading.Lock()

    def get(self, name: str) -> ModelEntry | None:
        """The entry for ``name``, or ``None`` when no such model is known."""
        return self._entries.get(name)

    def entries(self) -> dict[str, ModelEntry]:
        """A snapshot of every entry."""
        return dict(self._entries)

    def served_versions(self) -> dict[str, int]:
        """Model name → loaded version number, for models that have one loaded."""
        return {
            name: entry.loaded.version
            for name, entry in sorted(self._entries.items())
            if entry.loaded is not None
        }

    def put(self, entry: ModelEntry) -> None:
        """Add or replace the entry of ``entry.name``."""
        with self._write_lock:
            entries = dict(self._entries)
            entries[entry.name] = entry
            # Readers see either the old or the new dict, never a half-updated one.
            self._entries = entries

    def remove(self, name: str) -> ModelEntry | None:
        """Forget a model (deleted from the registry); returns its last entry."""
        with self._write_lock:
            entries = dict(self._entries)
            removed = entries.pop(name, None)
            self._entries = entries
        return removed
