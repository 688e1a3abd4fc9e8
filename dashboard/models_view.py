"""What the Models page draws: versions, the evidence for a promotion, the policy's verdict
and the production ledger, as tables and text.

The frames are pure (plain values in, ``pandas`` out) so the page stays short; the
``show_*`` helpers draw with streamlit. Every store or user text reaches markdown through
:func:`dashboard.format.md_text`; tables are ``st.dataframe``, which draws text as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import format as fmt
from services.promotion.actions import LedgerEntry, VersionRow
from services.promotion.evidence import Estimate, Evidence
from services.promotion.policy import Verdict

__all__ = [
    "class_recall_frame",
    "estimate",
    "evidence_frame",
    "holdout_text",
    "ledger_frame",
    "rollback_targets",
    "show_evidence",
    "show_verdict",
    "size",
    "versions_frame",
]

SERVED_ELSEWHERE = "served elsewhere"


def size(n_bytes: int | None) -> str:
    """``812 B``, ``14.2 KiB``, ``3.1 MiB``."""
    if n_bytes is None:
        return fmt.NO_DATA
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def estimate(figure: Estimate, *, points: bool = False) -> str:
    """``87.1 % (95 %: 85.2–88.9 %)``, or a difference in points ``+12.4 points (…)``."""
    if figure.value is None:
        return fmt.NO_DATA
    if points:
        text = f"{100 * figure.value:+.1f} points"
        low_high = ("" if figure.low is None or figure.high is None else
                    f" (95 %: {100 * figure.low:+.1f} to {100 * figure.high:+.1f})")
        return text + low_high
    text = fmt.share(figure.value)
    if figure.low is None or figure.high is None:
        return text
    return f"{text} (95 %: {100 * figure.low:.1f}–{100 * figure.high:.1f} %)"


def holdout_text(metrics: Mapping[str, Any]) -> str:
    """``accuracy 0.871 · macro_f1 0.850``: a version's holdout metrics, when known."""
    if not metrics:
        return fmt.NO_DATA
    parts = []
    for name, value in sorted(metrics.items()):
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        parts.append(f"{name} {shown}")
    return " · ".join(parts)


def _window(start: datetime | None, end: datetime | None, tz: str) -> str:
    if start is None and end is None:
        return fmt.NO_DATA
    return f"{fmt.when(start, tz)} → {fmt.when(end, tz)}"


def versions_frame(rows: Sequence[VersionRow], tz: str) -> pd.DataFrame:
    """The version table: newest first, as :func:`services.promotion.actions.versions`."""
    return pd.DataFrame({
        "Version": [f"v{r.version}" for r in rows],
        "Status": [r.status for r in rows],
        "Created by": [r.created_by for r in rows],
        "Created": [fmt.when(r.created_at, tz) for r in rows],
        "Artifact": [
            SERVED_ELSEWHERE if r.artifact_sha256 is None else
            f"sha256 {r.artifact_sha256[:12]}… · {size(r.artifact_bytes)}" for r in rows],
        "Training window": [_window(r.train_window_start, r.train_window_end, tz)
                            for r in rows],
        "Holdout metrics": [holdout_text(r.holdout_metrics) for r in rows],
        "Notes": [r.notes for r in rows],
    })


def evidence_frame(evidence: Evidence) -> pd.DataFrame:
    """Accuracy and macro F1 of both versions and their paired difference, with intervals."""
    base = fmt.NO_DATA if evidence.baseline is None else f"v{evidence.baseline}"
    return pd.DataFrame({
        "Metric": ["Accuracy", "Macro F1"],
        f"Production {base}": [estimate(evidence.accuracy_baseline),
                               estimate(evidence.macro_f1_baseline)],
        f"Candidate v{evidence.candidate}": [estimate(evidence.accuracy_candidate),
                                             estimate(evidence.macro_f1_candidate)],
        "Difference (candidate − production)": [
            estimate(evidence.accuracy_difference, points=True),
            estimate(evidence.macro_f1_difference, points=True)],
    })


def class_recall_frame(evidence: Evidence) -> pd.DataFrame:
    """Each class's recall under both versions on the shared rows."""
    base = fmt.NO_DATA if evidence.baseline is None else f"v{evidence.baseline}"
    return pd.DataFrame({
        "Class": [c.label for c in evidence.per_class],
        "Labels (support)": [c.support for c in evidence.per_class],
        f"Recall of {base}": [fmt.share(c.baseline) for c in evidence.per_class],
        f"Recall of v{evidence.candidate}": [fmt.share(c.candidate)
                                             for c in evidence.per_class],
    })


def ledger_frame(entries: Sequence[LedgerEntry], tz: str) -> pd.DataFrame:
    """The production ledger, newest first."""
    return pd.DataFrame({
        "When": [fmt.when(e.at, tz) for e in entries],
        "Kind": [e.kind for e in entries],
        "From → to": [f"{'none' if e.from_version is None else f'v{e.from_version}'} → "
                      f"v{e.to_version}" for e in entries],
        "Who": [e.actor for e in entries],
        "Reason": [e.reason for e in entries],
        "Verdict": [e.verdict or fmt.NO_DATA for e in entries],
        "Trigger": [json.dumps(e.trigger, sort_keys=True, ensure_ascii=False) if e.trigger
                    else "" for e in entries],
    })


def rollback_targets(entries: Sequence[LedgerEntry], production: int | None) -> list[int]:
    """Versions that served production before, most recent first (the current one left out).

    The first is the previous production version: where production came from when the
    current version was made production.
    """
    seen: dict[int, None] = {}
    for entry in entries:  # newest first
        for version in (entry.to_version, entry.from_version):
            if version is not None and version != production:
                seen.setdefault(version, None)
    return list(seen)


def show_evidence(evidence: Evidence, *, key: str) -> None:
    """The evidence's figures: shared rows, both metrics, the difference, McNemar, recall."""
    base = "production" if evidence.baseline is None else f"v{evidence.baseline}"
    cols = st.columns(4)
    cols[0].metric("Shared labelled predictions", fmt.count(evidence.shared),
                   help="Labelled predictions both versions answered, served or scored in "
                        "the shadow: the only rows the comparison uses.")
    cols[1].metric(f"Accuracy of {base}", fmt.share(evidence.accuracy_baseline.value))
    diff = evidence.accuracy_difference.value
    cols[2].metric(f"Accuracy of v{evidence.candidate}",
                   fmt.share(evidence.accuracy_candidate.value),
                   delta=None if diff is None else f"{100 * diff:+.1f} points")
    cols[3].metric("They disagree on", fmt.count(evidence.disagreements))
    st.dataframe(evidence_frame(evidence), hide_index=True, width="stretch",
                 key=f"{key}-figures")
    mcnemar = ("no disagreements, so no McNemar test" if evidence.mcnemar_p is None else
               f"McNemar's exact test p = {evidence.mcnemar_p:.3g}")
    st.caption(
        f"Of the disagreements, only {base} was right on "
        f"{evidence.only_baseline_right:,} and only v{evidence.candidate} on "
        f"{evidence.only_candidate_right:,}: {mcnemar}. Intervals are 95 %: Wilson for "
        "accuracy, bootstrap for macro F1, a paired bootstrap over the shared rows for the "
        "differences." + (f" {evidence.excluded_training_rows:,} labelled rows the candidate "
                          "was trained on are left out." if evidence.excluded_training_rows
                          else ""))
    if evidence.per_class:
        st.dataframe(class_recall_frame(evidence), hide_index=True, width="stretch",
                     key=f"{key}-recall")
    _show_serving(evidence)


def _show_serving(evidence: Evidence) -> None:
    record = evidence.serving
    if record is None:
        st.caption(f"v{evidence.candidate} has not served, so it has no serving record.")
    elif record.unavailable:
        st.caption(f"Serving record of v{evidence.candidate} unavailable: "
                   f"{fmt.md_text(record.unavailable)}.")
    else:
        st.caption(f"v{evidence.candidate} served over {fmt.md_text(record.window)}: p95 "
                   f"latency {fmt.latency(record.p95_latency_s)}, error rate "
                   f"{fmt.share(record.error_rate, 2)}.")


def show_verdict(verdict: Verdict) -> None:
    """Pass in green; fail with every failed check; insufficient with how to get more."""
    failed = [c for c in verdict.checks if c.passed is False]
    if verdict.outcome == "pass":
        passed = "; ".join(fmt.md_text(c.text) for c in verdict.checks if c.passed)
        st.success(f"Pass: the policy allows this promotion ({passed}).",
                   icon=":material/check_circle:")
    elif verdict.outcome == "fail":
        lines = "\n".join(f"- {fmt.md_text(c.text)}" for c in failed)
        st.error(f"Fail: the policy blocks this promotion.\n\n{lines}",
                 icon=":material/block:")
    else:
        st.warning(
            f"Insufficient evidence: {verdict.more_needed:,} more shared labelled "
            "predictions are needed. Score the candidate in the shadow so it answers the "
            "predictions production served, then wait for their labels:",
            icon=":material/hourglass_empty:")
        if verdict.how_to_get_more:
            st.code(verdict.how_to_get_more, language="bash")
    if verdict.checks:
        with st.expander("Every check of the policy"):
            for check in verdict.checks:
                mark = {True: "passed", False: "failed", None: "not judged"}[check.passed]
                st.markdown(f"- {mark}: {fmt.md_text(check.text)}")
