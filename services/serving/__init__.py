"""The inference service: JSON ``POST /predict``, ``GET /metrics``, ``GET /healthz``.

Serves the version the registry marks production for every model, switches to a newly
promoted version without a restart, and logs every prediction to the store in batches.
Run it with ``python -m services.serving``.
"""

from services.serving.app import create_app

__all__ = ["create_app"]
