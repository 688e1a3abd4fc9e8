"""The inference service: JSON ``POST /predict``, ``GET /metrics``, ``GET /healthz``.

Serves the version the registry marks production for every model, switches to a newly
promoted version without a restart, and logs every prediction to the store in batches.
Run it with ``python -m services.serving``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.serving.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``python -m services.serving`` can refuse a stale database without first
    # spending seconds importing pandas and scikit-learn.
    if name == "create_app":
        from services.serving.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
