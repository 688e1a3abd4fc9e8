"""``versions``, ``promote`` and ``rollback``: the command line of :mod:`services.promotion`.

:func:`add_parsers` adds the subcommands, :data:`COMMANDS` maps them to their ``(run, show)``
pairs for the command table of :mod:`services.cli.main`. ``promote`` ends with exit status
:data:`EXIT_BLOCKED` (3) when the policy blocks it and no reason was given.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, checked_engine, parse_time

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from services.promotion.actions import LedgerEntry, PromotionResult
    from services.promotion.policy import Verdict
    from services.settings import Settings

__all__ = ["COMMANDS", "EXIT_BLOCKED", "add_parsers", "exit_status"]

#: Exit status of a promotion the policy blocked (no reason given): nothing was changed.
EXIT_BLOCKED = 3

_PROMOTE_EPILOG = """\
The candidate is compared with the version that serves production on exactly the labelled
predictions both answered (served or shadow-scored) and judged by the promotion policy
(OPSDASH_PROMOTION_POLICY_FILE; defaults built in): pass, fail or insufficient evidence.
A fail or insufficient verdict blocks the promotion (exit status 3, nothing changed) unless
--reason says why to promote anyway; the ledger keeps the reason, the evidence and the
verdict. --dry-run judges and changes nothing. The move is one transaction with its audit
entry, made only if production is still the version read when the command started.
A version without an artifact (served elsewhere) can be promoted; over a version our
inference service serves, only with --confirm-unservable. Acts as the local admin `cli`.
"""

_ROLLBACK_EPILOG = """\
Returns production to the version it had before the current one (or --to, any version that
served production before). No evidence gate: rolling back is the safe act. Recorded in the
ledger and the audit log like a promotion. Acts as the local admin `cli`.
"""

_VERSIONS_EPILOG = """\
Lists every version (status, who made it and when, artifact, holdout metrics) and the
production ledger: every promotion and rollback, who, when, why and the verdict. With --at,
answers which version served production at that time (ISO 8601; UTC if no offset).
"""


def add_parsers(sub: Any) -> None:
    """Add ``versions``, ``promote`` and ``rollback`` to the subcommands ``sub``."""
    raw = argparse.RawDescriptionHelpFormatter
    text = "a model's versions and production ledger, or what served production at a time"
    p: argparse.ArgumentParser = sub.add_parser("versions", help=text, description=text,
                                                epilog=_VERSIONS_EPILOG, formatter_class=raw)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--at", help="the version that served production at this time")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    text = "make a version serve production, if the promotion policy passes its evidence"
    p = sub.add_parser("promote", help=text, description=text, epilog=_PROMOTE_EPILOG,
                       formatter_class=raw)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--version", required=True, type=int, help="the version to promote")
    p.add_argument("--reason", default="",
                   help="why (required to promote when the verdict is not a pass)")
    p.add_argument("--dry-run", action="store_true", help="judge only; change nothing")
    p.add_argument("--confirm-unservable", action="store_true",
                   help="promote a version without an artifact over one our service serves")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(exit_status=exit_status)

    text = "return production to the previous production version (or --to), with a reason"
    p = sub.add_parser("rollback", help=text, description=text, epilog=_ROLLBACK_EPILOG,
                       formatter_class=raw)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--to", type=int, help="a version that served production before")
    p.add_argument("--reason", required=True, help="why (kept in the ledger)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def exit_status(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """:data:`EXIT_BLOCKED` when the policy blocked the promotion, else 0."""
    return EXIT_BLOCKED if result.get("blocked") else 0


def _user_errors() -> tuple[type[Exception], ...]:
    """What the promotion calls raise for the user to fix (imported when a command runs)."""
    from db.repositories.registry import RegistryError
    from services.promotion.actions import ProductionChangedError
    from services.promotion.policy import PolicyError

    return RegistryError, ProductionChangedError, PolicyError


def _entry_json(entry: LedgerEntry) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "from_version": entry.from_version,
            "to_version": entry.to_version, "actor": entry.actor, "at": entry.at.isoformat(),
            "reason": entry.reason, "verdict": entry.verdict, "trigger": entry.trigger,
            "checks": [{"name": c.name, "passed": c.passed, "text": c.text}
                       for c in entry.checks],
            "evidence": entry.evidence.to_json() if entry.evidence else None}


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {"outcome": verdict.outcome, "summary": verdict.summary,
            "checks": [{"name": c.name, "passed": c.passed, "text": c.text}
                       for c in verdict.checks],
            "more_needed": verdict.more_needed, "how_to_get_more": verdict.how_to_get_more}


def _run_versions(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.promotion.actions import ledger, production_at, versions

    at = parse_time(args.at, "--at")
    with checked_engine(settings) as engine:
        try:
            if at is not None:
                return {"model": args.model, "at": at.isoformat(),
                        "production_version": production_at(engine=engine, model=args.model,
                                                            at=at)}
            rows, entries = (versions(engine=engine, model=args.model),
                             ledger(engine=engine, model=args.model))
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
    return {
        "model": args.model,
        "production_version": next((r.version for r in rows if r.status == "production"),
                                   None),
        "versions": [{"version": r.version, "status": r.status, "created_by": r.created_by,
                      "created_at": r.created_at.isoformat(),
                      "artifact_sha256": r.artifact_sha256, "artifact_bytes": r.artifact_bytes,
                      "train_window_start": _iso(r.train_window_start),
                      "train_window_end": _iso(r.train_window_end),
                      "holdout_metrics": r.holdout_metrics, "notes": r.notes} for r in rows],
        "ledger": [_entry_json(e) for e in entries],
    }


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _current(engine: Engine, model: str) -> int | None:
    """The version serving production now (what the promotion expects to replace)."""
    from services.promotion.actions import versions

    return next((r.version for r in versions(engine=engine, model=model)
                 if r.status == "production"), None)


def _promote(args: argparse.Namespace, settings: Settings, engine: Engine) -> PromotionResult:
    from services.access import CLI
    from services.prometheus.connection import source_from_settings
    from services.promotion.actions import UnservableVersionError, promote
    from services.promotion.evidence import gather_evidence
    from services.promotion.policy import load_policy

    policy = load_policy(settings, args.model)
    expected = _current(engine, args.model)
    if expected == args.version:
        raise CliError(f"{args.model} v{args.version} already serves production")
    evidence = gather_evidence(engine=engine, model=args.model, candidate=args.version,
                               baseline=expected, source=source_from_settings(settings))
    try:
        return promote(engine=engine, actor=CLI, model=args.model, version=args.version,
                       expected=expected, policy=policy, reason=args.reason,
                       evidence=evidence, dry_run=args.dry_run,
                       confirm_unservable=args.confirm_unservable)
    except UnservableVersionError as exc:
        raise CliError(f"{exc} (--confirm-unservable)") from None


def _run_promote(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.promotion.actions import PromotionBlockedError

    with checked_engine(settings) as engine:
        try:
            result = _promote(args, settings, engine)
        except PromotionBlockedError as blocked:
            return {"model": args.model, "version": args.version, "blocked": True,
                    "dry_run": args.dry_run, "message": str(blocked),
                    "verdict": _verdict_json(blocked.verdict)}
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
    return {"model": result.model, "version": result.to_version, "blocked": False,
            "dry_run": result.dry_run, "from_version": result.from_version,
            "to_version": result.to_version,
            "verdict": _verdict_json(result.verdict) if result.verdict else None,
            "evidence": result.evidence.to_json() if result.evidence else None,
            "entry": _entry_json(result.entry) if result.entry else None}


def _run_rollback(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.promotion.actions import rollback

    if not args.reason.strip():
        raise CliError("--reason is empty: say why production goes back")
    with checked_engine(settings) as engine:
        try:
            result = rollback(engine=engine, actor=CLI, model=args.model, reason=args.reason,
                              to=args.to)
        except _user_errors() as exc:
            raise CliError(str(exc)) from None
    assert result.entry is not None
    return {"model": result.model, "from_version": result.from_version,
            "to_version": result.to_version, "entry": _entry_json(result.entry)}


def _name(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _print_versions(result: dict[str, Any]) -> None:
    if "at" in result:
        print(f"{result['model']} at {result['at']}: production "
              f"{_name(result['production_version'])}")
        return
    print(f"{result['model']}: production {_name(result['production_version'])}")
    for v in result["versions"]:
        artifact = (f"sha256 {v['artifact_sha256'][:12]}…" if v["artifact_sha256"]
                    else "served elsewhere")
        print(f"  v{v['version']}  {v['status']:<10} {v['created_at'][:19]} UTC  "
              f"by {v['created_by']}  {artifact}")
    print("ledger (newest first):" if result["ledger"] else "ledger: no moves yet")
    for e in result["ledger"]:
        verdict = f" [{e['verdict']}]" if e["verdict"] else ""
        why = f": {e['reason']}" if e["reason"] else ""
        print(f"  {e['at'][:19]} UTC  {e['kind']:<8} {_name(e['from_version'])} → "
              f"v{e['to_version']}  by {e['actor']}{verdict}{why}")


def _print_verdict(verdict: dict[str, Any]) -> None:
    print(f"verdict: {verdict['summary']}")
    for check in verdict["checks"]:
        mark = {True: "ok  ", False: "FAIL", None: "n/a "}[check["passed"]]
        print(f"  {mark} {check['text']}")


def _print_promote(result: dict[str, Any]) -> None:
    scope = f"{result['model']} v{result['version']}"
    _print_verdict(result["verdict"])
    if result["blocked"]:
        print(f"{scope} not promoted: the policy blocks it. Promote anyway with --reason "
              "saying why" + (f", or get more evidence: {result['verdict']['how_to_get_more']}"
                              if result["verdict"]["how_to_get_more"] else ""))
    elif result["dry_run"]:
        print(f"dry run: {scope} would replace {_name(result['from_version'])}; "
              "nothing changed")
    else:
        print(f"{scope} serves production (was {_name(result['from_version'])}); "
              f"ledger entry {result['entry']['id']}")


def _print_rollback(result: dict[str, Any]) -> None:
    print(f"{result['model']} rolled back from {_name(result['from_version'])} to "
          f"v{result['to_version']}; ledger entry {result['entry']['id']}")


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {
    "versions": (_run_versions, _print_versions),
    "promote": (_run_promote, _print_promote),
    "rollback": (_run_rollback, _print_rollback),
}
