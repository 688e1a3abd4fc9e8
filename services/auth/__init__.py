"""Sign-in, roles and permissions: the domain side of authentication and authorisation.

Only the pure pieces are re-exported here; import the store-backed functions from their
modules (``services.auth.users``, ``services.auth.signin``, ``services.auth.tokens``), which
keeps ``services.audit`` free to import this package without a cycle.
"""

from services.auth.principal import CLI, SYSTEM, PermissionDenied, Principal, require
from services.auth.roles import Action, Role, View, allowed_actions, allowed_views, can

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
