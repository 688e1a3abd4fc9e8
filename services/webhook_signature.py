"""The HMAC-SHA256 signature every webhook we call carries, shared by the retrain hand-off
(:mod:`services.retrain.handoff`) and alert notifications (:mod:`services.alerts.notify`).

The value is ``sha256=`` and the hex HMAC-SHA256 of the signed bytes under a secret from the
environment; what is signed (the body alone, or a timestamp and the body) is each caller's.
Imports nothing of ours, so any package may use it.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign"]

#: The header carrying the signature: ``sha256=<hex HMAC-SHA256>``.
SIGNATURE_HEADER = "X-Opsdash-Signature"


def sign(message: bytes, secret: str) -> str:
    """The signature header's value for ``message``: ``sha256=`` and the hex HMAC."""
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
