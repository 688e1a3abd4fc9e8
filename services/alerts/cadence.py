"""When a rule is due for evaluation: each kind at its own cadence.

Each kind's cadence is :func:`services.alerts.rules.cadence_seconds`: serving, traffic,
backlog, retrain and rollback rules every minute, drift rules every 15 minutes; a quality
rule is looked at every minute but judged only when labels of its model arrived (or
changed) since its last evaluation, or 15 minutes after it at the latest, so an unchanged
window is not recomputed every round.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.alerts.rules import Rule, cadence_seconds

__all__ = ["DEFAULT_SECONDS", "QUALITY_REFRESH_SECONDS", "due", "rule_cadence"]

#: Cadence of a rule whose kind has no other, or whose definition cannot be read.
DEFAULT_SECONDS = 60
#: A quality rule with no new labels is judged again after this long at the latest.
QUALITY_REFRESH_SECONDS = 15 * 60


def rule_cadence(rule: Rule | str) -> int:
    """Seconds between two evaluations of ``rule`` (a ``str``: a rule that cannot be read)."""
    if isinstance(rule, str):
        return DEFAULT_SECONDS
    return cadence_seconds(rule)


def due(rule: Rule | str, *, evaluated_at: datetime | None, at: datetime,
        newest_label: datetime | None = None) -> bool:
    """Whether ``rule``, last evaluated at ``evaluated_at``, is due at ``at``.

    Args:
        newest_label: quality rules: when a label of the model was last stored or changed.
    """
    if evaluated_at is None:
        return True
    elapsed = at - evaluated_at
    if elapsed < timedelta(seconds=rule_cadence(rule)):
        return False
    if isinstance(rule, str) or rule.kind != "quality_below":
        return True
    labels_arrived = newest_label is not None and newest_label > evaluated_at
    return labels_arrived or elapsed >= timedelta(seconds=QUALITY_REFRESH_SECONDS)
