"""Who is calling: the identity every state-changing service function takes as ``actor``."""

from __future__ import annotations

from dataclasses import dataclass

from services.access.roles import Action, Role, View, can

__all__ = [
    "CLI",
    "FEEDBACK_API",
    "RESERVED_USERNAMES",
    "RETRAIN_PIPELINE",
    "SYSTEM",
    "PermissionDenied",
    "Principal",
    "require",
]


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or a trusted local process) and its role.

    Attributes:
        username: the user's name, written to the audit log as the actor.
        role: the role that decides what the principal may do.
    """

    username: str
    role: Role

    def __post_init__(self) -> None:
        # Accept the plain string read from the store; reject anything that is not a role.
        object.__setattr__(self, "role", Role(self.role))


#: The demo launcher and other local processes of the stack. Not a user: no row, no password.
SYSTEM = Principal(username="system", role=Role.ADMIN)
#: The command line: whoever has a shell on the host with the database is an admin.
CLI = Principal(username="cli", role=Role.ADMIN)
#: The inference service's ``POST /feedback``: a client holding ``OPSDASH_FEEDBACK_TOKEN``
#: may label, nothing else.
FEEDBACK_API = Principal(username="feedback-api", role=Role.LABELER)
#: A pipeline reporting, with a job's one-time token, on the retrain job handed to it (the
#: audit log's actor of the version it registers; not a principal: it may do nothing else).
RETRAIN_PIPELINE = "retrain-pipeline"
#: Names no user account may take, so audit rows by the processes above stay unambiguous.
RESERVED_USERNAMES = frozenset({SYSTEM.username, CLI.username, FEEDBACK_API.username,
                                "anonymous", RETRAIN_PIPELINE})


class PermissionDenied(Exception):  # noqa: N818  (the name the dashboard codes against)
    """The caller may not do this; ``str()`` is a message for the user."""


def _describe(action: Action | View) -> str:
    if isinstance(action, View):
        return "view the audit log" if action is View.AUDIT else f"view the {action} page"
    return action.value.replace("_", " ")


def require(actor: Principal | None, action: Action | View) -> Principal:
    """Return ``actor`` if it may take ``action`` (or open the page), else raise.

    Raises:
        PermissionDenied: ``actor`` is ``None`` (nobody signed in) or its role lacks the
            permission.
    """
    if actor is None:
        raise PermissionDenied(f"sign in first: only signed-in users may {_describe(action)}")
    if not can(actor.role, action):
        raise PermissionDenied(f"{actor.username} ({actor.role}) may not {_describe(action)}")
    return actor
