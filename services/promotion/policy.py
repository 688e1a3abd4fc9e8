"""The promotion policy and its verdict.

One TOML file (``OPSDASH_PROMOTION_POLICY_FILE``) with a ``[default]`` table and one table
per model (``[models.churn]``) overriding any of its keys; every key has a built-in default.
The same :func:`judge` decides for the page, the command line and ``--dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.promotion.evidence import Evidence
from services.settings import Settings

__all__ = ["Check", "Outcome", "Policy", "PolicyError", "Verdict", "judge", "load_policy"]

Outcome = Literal["pass", "fail", "insufficient"]


class PolicyError(ValueError):
    """The policy file is unusable; ``str()`` is one line naming the file, table and key."""


@dataclass(frozen=True)
class Policy:
    """What a candidate must show before it may replace production.

    Attributes:
        min_shared: labelled predictions both versions answered, at least.
        primary_metric: ``accuracy`` or ``macro_f1``.
        margin: the difference's lower bound must be above ``-margin``.
        class_recall_floor: no class's recall under the candidate below this (0 = off).
        latency_p95_s / error_rate: SLO the candidate must meet if it ever served.
    """

    min_shared: int = 200
    primary_metric: Literal["accuracy", "macro_f1"] = "accuracy"
    margin: float = 0.01
    class_recall_floor: float = 0.0
    latency_p95_s: float | None = None
    error_rate: float | None = None


@dataclass(frozen=True)
class Check:
    """One rule of the policy applied to the evidence; ``text`` names it with its numbers."""

    name: str
    passed: bool | None  # None: could not be judged (no data)
    text: str


@dataclass(frozen=True)
class Verdict:
    """The policy's answer.

    Attributes:
        outcome: ``pass``, ``fail`` (``checks`` says which failed, with numbers) or
            ``insufficient`` (too few shared labelled predictions).
        checks: every check, passed or not.
        more_needed: shared labelled predictions still missing (``insufficient``), else 0.
        how_to_get_more: the command that shadow-scores more predictions (``insufficient``).
    """

    outcome: Outcome
    checks: tuple[Check, ...]
    more_needed: int = 0
    how_to_get_more: str = ""

    @property
    def summary(self) -> str:
        """One line for people: the outcome and, when not a pass, why."""
        raise NotImplementedError


def load_policy(settings: Settings, model: str) -> Policy:
    """The policy of ``model``: built-in defaults, overridden by the file's tables.

    Raises:
        PolicyError: the file cannot be read, is not TOML, or has an unknown or bad key.
    """
    raise NotImplementedError


def judge(evidence: Evidence, policy: Policy) -> Verdict:
    """The verdict of ``policy`` on ``evidence``."""
    raise NotImplementedError
