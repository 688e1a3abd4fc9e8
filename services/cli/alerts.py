"""``alerts export-rules``: the stored alert rules as a Prometheus rules file and its tests."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, Parser, checked_engine

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_EPILOG = """\
Writes opsdash-alerts.rules.yml (one group, one alert per enabled rule that Prometheus can
judge, on the figures the worker serves at /metrics when OPSDASH_WORKER_METRICS_PORT is set,
and on the inference service's metrics through the active query preset) and
opsdash-alerts.test.yml (promtool unit tests generated from the same rules). Check them with
`promtool check rules opsdash-alerts.rules.yml` and `promtool test rules
opsdash-alerts.test.yml`. Rules of kinds only the app can judge are listed on stderr and in
a comment at the top of the rules file.
"""


def add_parsers(sub: Any) -> None:
    """Add ``alerts`` (with ``export-rules``) to the subcommands ``sub``."""
    text = "alert rules outside the app"
    alerts = sub.add_parser("alerts", help=text, description=text)
    actions = alerts.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND",
                                    parser_class=Parser)
    text = ("write the stored alert rules as a Prometheus rules file, with a promtool test "
            "file beside it")
    p: argparse.ArgumentParser = actions.add_parser(
        "export-rules", help=text, description=text, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=".", help="folder to write both files to (default: the "
                   "current folder; made if missing)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _run_export(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.alerts.promfiles import RULES_FILE, TESTS_FILE, render_rules, render_tests
    from services.alerts.promrules import export_rules
    from services.alerts.store import list_rules
    from services.prometheus.metric_names import SERVING_JOB
    from services.prometheus.presets import PresetError, active_preset

    try:
        preset = active_preset(settings)
    except PresetError as exc:
        raise CliError(str(exc)) from None
    with checked_engine(settings) as engine:
        stored = list_rules(engine=engine)
    export = export_rules(stored, preset=preset, job=SERVING_JOB)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        rules_path, tests_path = out / RULES_FILE, out / TESTS_FILE
        rules_path.write_text(render_rules(export), encoding="utf-8")
        tests_path.write_text(render_tests(export, rules_file=RULES_FILE), encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--out {args.out}: cannot write there ({exc.strerror or exc})") from None
    for name, why in export.skipped:
        print(f"not exported: {name!r}: {why}", file=sys.stderr)
    return {
        "rules_file": str(rules_path),
        "tests_file": str(tests_path),
        "exported": [{"rule": a.rule, "alert": a.name, "tested": a.scenario is not None}
                     for a in export.alerts],
        "skipped": [{"rule": name, "reason": why} for name, why in export.skipped],
    }


def _print_export(result: dict[str, Any]) -> None:
    exported = result["exported"]
    print(f"{len(exported)} rule(s) exported to {result['rules_file']}, "
          f"{sum(1 for e in exported if e['tested'])} with generated tests in "
          f"{result['tests_file']}; {len(result['skipped'])} judged in the app only")
    for entry in exported:
        print(f"  {entry['alert']}  ({entry['rule']})")


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {"alerts export-rules": (_run_export, _print_export)}
