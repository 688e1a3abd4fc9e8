"""The importer's bounds, apart from it so the command line can show them in ``--help``
without loading the store (:mod:`services.predictions.importer` re-exports them)."""

from __future__ import annotations

__all__ = ["MAX_ROWS"]

#: Default bound on a file's rows (``--max-rows``): the check keeps every id in memory.
MAX_ROWS = 1_000_000
