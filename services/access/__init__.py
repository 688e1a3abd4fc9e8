"""Who may do what: principals, roles and the permission matrix.

Pure (no store, no settings), so every other package, :mod:`services.audit` included, can
import it; the store-backed side of signing in lives in :mod:`services.auth`.
"""

from services.access.principal import CLI, SYSTEM, PermissionDenied, Principal, require
from services.access.roles import Action, Role, View, allowed_actions, allowed_views, can

__all__ = [
    "CLI",
    "SYSTEM",
    "Action",
    "PermissionDenied",
    "Principal",
    "Role",
    "View",
    "allowed_actions",
    "allowed_views",
    "can",
    "require",
]
