"""The verdict of a drift analysis in plain language, for a business reader."""

from __future__ import annotations

from services.drift.analysis import DriftAnalysis

__all__ = ["summary"]


def summary(
    analysis: DriftAnalysis, *, model: str, reference: str, window: str, top: int = 3
) -> list[str]:
    """Plain-language sentences for a business reader (plain text; escape for markdown)."""
    result = analysis.result
    if not result.tested:
        return [f"No feature of {model} could be tested in {window}: there are no "
                "predictions with values there, or no reference values."]
    moved = [r for r in analysis.ranked if r.drift.drifted]
    verdict = "have drifted" if result.drifted else "have not drifted as a whole"
    lines = [
        f"Compared with {reference}, {len(moved)} of {result.tested} inputs of {model} "
        f"changed in {window} ({100 * result.drifted_share:.0f} %; the alarm is at "
        f"{100 * result.drift_share:.0f} %): the inputs {verdict}."
    ]
    if moved:
        names = ", ".join(f"{r.drift.column} (weight {100 * r.weight:.0f} %)"
                          for r in moved[:top])
        lines.append(f"The changes that matter most for this model: {names}.")
    if analysis.episode_start is not None:
        lines.append(f"Day by day, the inputs have been drifting since "
                     f"{analysis.episode_start:%a %d %b %Y}.")
    new = [r.drift for r in analysis.ranked if r.drift.new_categories]
    if new:
        lines.append("New values not seen in the reference: " + "; ".join(
            f"{c.column}: {', '.join(c.new_categories[:5])}" for c in new) + ".")
    if analysis.prediction is not None:
        shift = [c.column for c in analysis.prediction.columns if c.drifted]
        if shift:
            lines.append(f"The model's answers moved too ({' and '.join(shift)}).")
        else:
            lines.append("The model's answers (class mix and confidence) did not move "
                         "significantly.")
    return lines
