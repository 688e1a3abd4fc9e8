"""The promotion policy and its verdict.

One TOML file (``OPSDASH_PROMOTION_POLICY_FILE``) with a ``[default]`` table and one table
per model (``[models.churn]``) overriding any of its keys; every key has a built-in default::

    [default]
    min_shared = 200            # shared labelled predictions, at least
    primary_metric = "accuracy" # or "macro_f1"
    margin = 0.01               # the difference's lower bound must be above -margin
    class_recall_floor = 0.0    # no class's recall under the candidate below this (0: off)
    latency_p95_s = 0.25        # if the candidate served; default OPSDASH_SLO_LATENCY_P95_SECONDS
    error_rate = 0.01           # if the candidate served; default OPSDASH_SLO_ERROR_RATE

    [models.churn]
    margin = 0.0

The same :func:`judge` decides for the page, the command line and ``--dry-run``:

* *insufficient* when fewer than ``min_shared`` labelled predictions were answered by both
  versions (exactly ``min_shared`` is enough);
* else *fail* when any check fails: the lower bound of the primary metric's difference is
  at or below ``-margin`` (exactly ``-margin`` fails: it must be *above*), a class with
  shared rows has a candidate recall below the floor, or the candidate's serving record
  shows p95 latency or error rate over the SLO (a record Prometheus could not give, or a
  window without traffic, is shown but not judged: it does not block);
* else *pass*. With nothing in production there is nothing to compare with: promoting the
  first version is a *pass* (only its serving record, if any, is judged).
"""

from __future__ import annotations

import math
import shlex
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from services.promotion.evidence import Evidence
from services.settings import Settings

__all__ = [
    "Check",
    "Outcome",
    "Policy",
    "PolicyError",
    "Verdict",
    "judge",
    "load_policy",
    "read_policy_file",
    "shadow_command",
]

Outcome = Literal["pass", "fail", "insufficient"]


class PolicyError(ValueError):
    """The policy file is unusable; ``str()`` is one line naming the file, table and key."""


@dataclass(frozen=True)
class Policy:
    """What a candidate must show before it may replace production.

    Attributes:
        min_shared: labelled predictions both versions answered, at least.
        primary_metric: ``accuracy`` or ``macro_f1``.
        margin: the difference's lower bound must be above ``-margin`` (between -1 and 1;
            a negative margin demands an improvement of at least that much).
        class_recall_floor: no class's recall under the candidate below this (0 = off).
        latency_p95_s / error_rate: SLO the candidate must meet if it ever served.
    """

    min_shared: int = 200  # at least 1
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
        if self.outcome == "insufficient":
            shared = next((c.text for c in self.checks if c.name == "shared"), "")
            how = f"; to get more, label more predictions or run: {self.how_to_get_more}" \
                if self.how_to_get_more else ""
            return f"insufficient evidence: {shared}, {self.more_needed:,} more needed{how}"
        if self.outcome == "fail":
            return "fail: " + "; ".join(c.text for c in self.checks if c.passed is False)
        return "pass: " + "; ".join(c.text for c in self.checks if c.passed)


def load_policy(settings: Settings, model: str) -> Policy:
    """The policy of ``model``: built-in defaults, overridden by the file's tables.

    Raises:
        PolicyError: the file cannot be read, is not TOML, or has an unknown or bad key.
    """
    policy = Policy(latency_p95_s=settings.slo_latency_p95_seconds,
                    error_rate=settings.slo_error_rate)
    path = settings.promotion_policy_file
    if not path:
        return policy
    default, models = read_policy_file(Path(path))
    return replace(replace(policy, **default), **models.get(model, {}))


def judge(evidence: Evidence, policy: Policy) -> Verdict:
    """The verdict of ``policy`` on ``evidence`` (see the module notes for the rules)."""
    checks = [_shared_check(evidence, policy)]
    if evidence.baseline is None:
        checks.append(Check("baseline", True, "nothing serves production yet: "
                                              "no version to compare with"))
    else:
        checks.append(_difference_check(evidence, policy))
        checks.extend(_recall_checks(evidence, policy))
    checks.extend(_serving_checks(evidence, policy))
    if evidence.baseline is not None and evidence.shared < policy.min_shared:
        return Verdict(outcome="insufficient", checks=tuple(checks),
                       more_needed=policy.min_shared - evidence.shared,
                       how_to_get_more=shadow_command(evidence.model, evidence.candidate))
    failed = any(c.passed is False for c in checks)
    return Verdict(outcome="fail" if failed else "pass", checks=tuple(checks))


def shadow_command(model: str, version: int) -> str:
    """The command that shadow-scores the model's logged predictions with ``version``."""
    return (f"python -m services.cli shadow-score --model {shlex.quote(model)} "
            f"--version {version}")


def _shared_check(evidence: Evidence, policy: Policy) -> Check:
    if evidence.baseline is None:
        return Check("shared", None, "no shared labelled predictions needed")
    enough = evidence.shared >= policy.min_shared
    return Check("shared", enough, f"{evidence.shared:,} shared labelled predictions "
                                   f"({'at least' if enough else 'fewer than'} "
                                   f"{policy.min_shared:,})")


def _difference_check(evidence: Evidence, policy: Policy) -> Check:
    name = "accuracy" if policy.primary_metric == "accuracy" else "macro F1"
    diff = (evidence.accuracy_difference if policy.primary_metric == "accuracy"
            else evidence.macro_f1_difference)
    bound = -policy.margin
    if diff.value is None or diff.low is None or diff.high is None:
        return Check("difference", False, f"{name} difference of v{evidence.candidate} "
                                          f"over v{evidence.baseline}: no interval")
    passed = diff.low > bound
    return Check(
        "difference", passed,
        f"{name} difference v{evidence.candidate} - v{evidence.baseline} "
        f"{_points(diff.value)} points (interval {_points(diff.low)} to {_points(diff.high)}): "
        f"lower bound {'above' if passed else 'not above'} {_points(bound)}")


def _recall_checks(evidence: Evidence, policy: Policy) -> list[Check]:
    if policy.class_recall_floor <= 0:
        return []
    checks = []
    for c in evidence.per_class:
        if c.candidate is None:  # no shared row of this class: nothing to judge
            continue
        passed = c.candidate >= policy.class_recall_floor
        checks.append(Check(
            f"recall:{c.label}", passed,
            f"recall of {c.label!r} under v{evidence.candidate} {100 * c.candidate:.2f} % "
            f"({'at or above' if passed else 'below'} the floor "
            f"{100 * policy.class_recall_floor:.2f} %, {c.support:,} rows)"))
    return checks


def _serving_checks(evidence: Evidence, policy: Policy) -> list[Check]:
    record = evidence.serving
    if record is None:
        return []
    if record.unavailable:
        return [Check("serving", None, f"serving record not judged: {record.unavailable}")]
    found = [("latency_p95", "p95 latency", record.p95_latency_s, policy.latency_p95_s, "s"),
             ("error_rate", "error rate", record.error_rate, policy.error_rate, "")]
    checks = []
    for name, words, value, limit, unit in found:
        if limit is None:
            continue
        if value is None:
            checks.append(Check(name, None, f"{words} not judged: no traffic in the "
                                            f"{record.window}"))
            continue
        passed = value <= limit
        checks.append(Check(name, passed, f"{words} of v{evidence.candidate} {value:.4g}{unit} "
                                          f"({'within' if passed else 'over'} the SLO "
                                          f"{limit:.4g}{unit}, {record.window})"))
    return checks


_KEYS = ("min_shared", "primary_metric", "margin", "class_recall_floor", "latency_p95_s",
         "error_rate")
_METRICS = ("accuracy", "macro_f1")


def read_policy_file(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The ``[default]`` table's keys and each ``[models.<name>]`` table's, checked.

    Raises:
        PolicyError: the file cannot be read, is not TOML, has a table or key not known,
            or a value of the wrong type or out of range (named with file, table and key).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"promotion policy {path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"promotion policy {path}: not valid TOML ({exc})") from None
    unknown = sorted(set(document) - {"default", "models"})
    if unknown:
        raise PolicyError(f"promotion policy {path}: unknown table [{unknown[0]}]; "
                          "allowed: [default], [models.<name>]")
    default = _table(document.get("default", {}), path, "default")
    models = _table(document.get("models", {}), path, "models")
    return (_values(default, path, "default"),
            {name: _values(_table(t, path, f"models.{name}"), path, f"models.{name}")
             for name, t in models.items()})


def _table(value: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"promotion policy {path}: [{where}] must be a table")
    return value


def _values(table: dict[str, Any], path: Path, where: str) -> dict[str, Any]:
    """The table's keys as :class:`Policy` fields, each checked for type and range."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise PolicyError(f"promotion policy {path}: [{where}] unknown key {key!r}; "
                              f"allowed: {', '.join(_KEYS)}")
        problem = _problem(key, value)
        if problem:
            raise PolicyError(f"promotion policy {path}: [{where}] {key} {problem}, "
                              f"got {value!r}")
        out[key] = float(value) if key not in ("min_shared", "primary_metric") else value
    return out


def _problem(key: str, value: Any) -> str:
    """What is wrong with ``value`` for ``key`` ('' when nothing is)."""
    if key == "primary_metric":
        return "" if value in _METRICS else "must be \"accuracy\" or \"macro_f1\""
    if key == "min_shared":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return "" if ok else "must be a whole number of at least 1"
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value):
        return "must be a number"
    if key == "margin":
        return "" if -1.0 <= value <= 1.0 else "must be between -1 and 1"
    if key == "latency_p95_s":
        return "" if value > 0 else "must be above 0 seconds"
    return "" if 0.0 <= value <= 1.0 else "must be between 0 and 1"


def _points(value: float) -> str:
    """A difference of shares in percentage points, signed: ``+3.43``, ``-1.00``, ``0``."""
    return f"{100 * value:+.2f}" if value else "0"
