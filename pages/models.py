"""Models: every version of a model, the evidence for promoting a candidate, the policy's
verdict, promote and roll back (operators and admins), and the production ledger."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.components import registered_models
from dashboard.data import forget_production_figures, label_count, promotion_evidence
from dashboard.models_view import (
    ledger_frame,
    rollback_targets,
    show_evidence,
    show_verdict,
    versions_frame,
)
from dashboard.resources import engine_for, settings
from services.access import Action, PermissionDenied, View, can
from services.promotion.actions import (
    LedgerEntry,
    ProductionChangedError,
    PromotionBlockedError,
    ledger,
    production_at,
    promote,
    rollback,
    versions,
)
from services.promotion.evidence import Evidence
from services.promotion.policy import Policy, PolicyError, Verdict, judge, load_policy

user = guard(View.LIFECYCLE)
config = settings()
engine = engine_for(config.resolved_database_url)
zone = ZoneInfo(config.timezone)
may_act = can(user.role, Action.PROMOTE)
#: Session keys: what the last action did, or why it was refused.
_DONE, _REFUSED = "_opsdash_models_done", "_opsdash_models_refused"
#: Ledger entries whose evidence snapshot gets an expander (the table lists them all).
SNAPSHOTS = 20

by_name = registered_models(engine, nothing_to="promote or roll back")
model = st.selectbox("Model", list(by_name), key="models-model")

if done := st.session_state.pop(_DONE, None):
    st.success(fmt.md_text(done), icon=":material/check_circle:")
if refused := st.session_state.pop(_REFUSED, None):
    st.error(f"{fmt.md_text(refused)}. The page now shows the current state: look again "
             "before you act.", icon=":material/error:")
    st.button("Reload", key="models-reload", icon=":material/refresh:")

rows = versions(engine=engine, model=model)
entries = ledger(engine=engine, model=model)
by_version = {r.version: r for r in rows}
production = next((r.version for r in rows if r.status == "production"), None)


def _name(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


_DONE_AS = {"promotion": "promoted", "rollback": "rolled back"}


def _act(kind: str, call: Any) -> None:
    """Run a promotion or rollback (a button's callback); keep what happened for the run."""
    try:
        result = call()
    # RegistryError (no such version, a failed one) and an empty reason are ValueErrors.
    except (ProductionChangedError, PromotionBlockedError, PermissionDenied, ValueError) as exc:
        st.session_state[_REFUSED] = f"Not {_DONE_AS[kind]}: {exc}"
    else:
        st.session_state[_DONE] = (
            f"{model}: production moved from {_name(result.from_version)} to "
            f"{_name(result.to_version)} ({kind}). The inference service switches within "
            f"{config.model_reload_seconds:g} s.")
    forget_production_figures()


def _promote(version: int, expected: int | None, policy: Policy, evidence: Evidence) -> None:
    """Promote with what the page showed: the production version and the evidence."""
    reason = str(st.session_state.get(f"models-reason-{model}-{version}", "")).strip()
    confirm = bool(st.session_state.get(f"models-confirm-{model}-{version}", False))
    _act("promotion", lambda: promote(
        engine=engine, actor=user, model=model, version=version, expected=expected,
        policy=policy, reason=reason, evidence=evidence, confirm_unservable=confirm))


def _rollback(expected: int | None) -> None:
    """Roll back to the chosen version, if production is still the one the page showed."""
    to = st.session_state.get(f"models-rollback-to-{model}")
    reason = str(st.session_state.get(f"models-rollback-reason-{model}", "")).strip()
    _act("rollback", lambda: rollback(engine=engine, actor=user, model=model, reason=reason,
                                      to=to, expected=expected))


def _versions_table() -> None:
    st.subheader("Versions", anchor=False)
    serving = (f"production is {_name(production)}" if production is not None else
               "nothing serves production yet")
    st.caption(f"{fmt.md_text(model)}: {len(rows):,} versions, newest first; {serving}. "
               f"Times in {config.timezone}.")
    st.dataframe(versions_frame(rows, config.timezone), hide_index=True, width="stretch",
                 key="models-versions")


def _policy() -> Policy | None:
    try:
        return load_policy(config, model)
    except PolicyError as exc:
        st.error(f"The promotion policy cannot be read: {fmt.md_text(str(exc))}. Fix the file "
                 "named by OPSDASH_PROMOTION_POLICY_FILE (or unset it for the built-in "
                 "defaults); no promotion can be judged until then.", icon=":material/rule:")
        return None


def _evidence(candidate: int) -> Evidence | None:
    try:
        return promotion_evidence(config.resolved_database_url, config.prometheus_url,
                                  config.prometheus_timeout, model, candidate, production,
                                  label_count(config.resolved_database_url, model))
    except ValueError as exc:  # RegistryError: the version is gone or failed
        st.error(f"No evidence: {fmt.md_text(str(exc))}. Reload the page; the version list "
                 "may have changed.", icon=":material/error:")
        return None


def _promotion() -> None:
    """Choose a candidate, see its evidence and verdict, and (operators, admins) promote."""
    st.subheader("Evidence for a promotion", anchor=False)
    choices = [r.version for r in rows if r.status == "candidate"]
    if not choices:
        st.info(f"{fmt.md_text(model)} has no candidate version to promote. Register one "
                "(`python -m services.cli add-version`); a version that served production "
                "before comes back by a rollback.", icon=":material/info:")
        return
    candidate = st.selectbox(
        f"Candidate to compare with production {_name(production)}", choices, index=0,
        key=f"models-candidate-{model}", format_func=lambda v: f"v{v}")
    policy = _policy()
    evidence = _evidence(int(candidate))
    if policy is None or evidence is None:
        return
    if evidence.baseline is None:
        st.info("Nothing serves production yet, so there is nothing to compare with.",
                icon=":material/info:")
    else:
        show_evidence(evidence, key=f"models-evidence-{model}-{candidate}")
    verdict = judge(evidence, policy)
    show_verdict(verdict)
    if may_act:
        _promote_form(int(candidate), policy, evidence, verdict)


def _promote_form(candidate: int, policy: Policy, evidence: Evidence, verdict: Verdict) -> None:
    with st.container(border=True):
        st.markdown(f"**Promote v{candidate}** over production {_name(production)}")
        needed = verdict.outcome != "pass"
        reason = st.text_area(
            "Reason" + (" (required: the policy did not pass)" if needed else " (optional)"),
            key=f"models-reason-{model}-{candidate}", max_chars=2000,
            help="Kept in the production ledger with the evidence as shown here.")
        row, current = by_version[candidate], by_version.get(production or -1)
        unservable = row.artifact_sha256 is None and (
            current is not None and current.artifact_sha256 is not None)
        confirmed = True
        if unservable:
            confirmed = st.checkbox(
                f"v{candidate} has no artifact (it is served elsewhere): our inference "
                f"service cannot load it and stops serving {model} once it is production. "
                "Promote it anyway.", key=f"models-confirm-{model}-{candidate}")
        blocked = (needed and not reason.strip()) or not confirmed
        st.button(f"Promote v{candidate}", type="primary", disabled=blocked,
                  key=f"models-promote-{model}-{candidate}", icon=":material/publish:",
                  on_click=_promote, args=(candidate, production, policy, evidence))
        if needed and not reason.strip():
            st.caption("Write a reason to promote against the policy's verdict.")


def _rollback_form() -> None:
    """One click back to the previous production version (or an earlier one), with a reason."""
    st.subheader("Roll back", anchor=False)
    targets = [v for v in rollback_targets(entries, production)
               if v in by_version and by_version[v].status != "failed"]
    if production is None or not targets:
        st.caption("Nothing to roll back to: no other version has served production.")
        return
    with st.container(border=True):
        to = st.selectbox(
            f"Return production from {_name(production)} to", targets, index=0,
            key=f"models-rollback-to-{model}",
            format_func=lambda v: f"v{v}" + (" (the previous production version)"
                                            if v == targets[0] else ""),
            help="No evidence gate: rolling back is the safe act. The rollback is recorded "
                 "in the ledger and the audit log like a promotion.")
        target = by_version[to]
        artifact = ("served elsewhere (no artifact)" if target.artifact_sha256 is None else
                    f"artifact sha256 {target.artifact_sha256[:12]}…")
        st.caption(f"Returns to v{to} ({target.status}; {artifact}), created by "
                   f"{fmt.md_text(target.created_by)} on "
                   f"{fmt.when(target.created_at, config.timezone)}.")
        reason = st.text_input("Reason (required)", key=f"models-rollback-reason-{model}",
                               max_chars=2000)
        st.button(f"Roll back to v{to}", disabled=not reason.strip(),
                  key=f"models-rollback-{model}", icon=":material/undo:",
                  on_click=_rollback, args=(production,))


def _ledger(entries: list[LedgerEntry]) -> None:
    st.subheader("Production ledger", anchor=False)
    if not entries:
        st.caption(f"No promotion or rollback of {fmt.md_text(model)} is recorded yet.")
    else:
        _automatic(entries[0])
        st.caption(f"Every promotion and rollback, newest first; times in {config.timezone}.")
        st.dataframe(ledger_frame(entries, config.timezone), hide_index=True,
                     width="stretch", key="models-ledger")
        for entry in entries[:SNAPSHOTS]:
            if entry.evidence is None:
                continue
            title = (f"Evidence at the {entry.kind} of {fmt.when(entry.at, config.timezone)}: "
                     f"{_name(entry.from_version)} → v{entry.to_version}")
            with st.expander(title):
                show_evidence(entry.evidence, key=f"models-snapshot-{entry.id}")
                for check in entry.checks:
                    mark = {True: "passed", False: "failed", None: "not judged"}[check.passed]
                    st.markdown(f"- {mark}: {fmt.md_text(check.text)}")
    _served_at()


def _automatic(newest: LedgerEntry) -> None:
    """Say so when the latest move was an automatic rollback, with what triggered it."""
    if newest.kind != "rollback" or not newest.trigger:
        return
    numbers = ", ".join(f"{k} {v}" for k, v in sorted(newest.trigger.items()))
    st.warning(
        f"{fmt.md_text(newest.actor)} rolled production back automatically from "
        f"{_name(newest.from_version)} to v{newest.to_version} at "
        f"{fmt.when(newest.at, config.timezone)}: {fmt.md_text(newest.reason)} "
        f"({fmt.md_text(numbers)}).", icon=":material/undo:")


def _served_at() -> None:
    """What served production at a moment, in the configured time zone."""
    now = datetime.now(zone)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        day = st.date_input(f"What served production on ({config.timezone})", value=now.date(),
                            max_value=now.date(), format="YYYY-MM-DD",
                            key=f"models-at-day-{model}")
        moment = st.time_input("at", value=time(12, 0), step=60, key=f"models-at-time-{model}")
    at = datetime.combine(day, moment, zone)
    served = production_at(engine=engine, model=model, at=at.astimezone(UTC))
    when = fmt.when(at, config.timezone)
    if served is None:
        st.caption(f"Nothing served production of {fmt.md_text(model)} at {when}.")
    else:
        st.caption(f"At {when}, v{served} served production of {fmt.md_text(model)}.")


_versions_table()
_promotion()
if may_act:
    _rollback_form()
else:
    st.caption("Promotions and rollbacks are for operators and admins; your role "
               f"({user.role}) reads this page.")
_ledger(entries)
