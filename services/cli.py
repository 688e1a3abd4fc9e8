"""Command line for operators and pipelines: ``python -m services.cli COMMAND``.

Every subcommand has ``--help``; commands that report figures take ``--json``; bad input
exits non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from db.schema import SchemaError, check_schema, upgrade
from db.session import make_engine
from services.settings import Settings, SettingsError, get_settings

__all__ = ["main"]

#: Exit status for bad arguments or input, and for an unusable database.
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


class CliError(Exception):
    """A failure explained in one line to the user."""


def _engine(settings: Settings, *, check: bool = True) -> Engine:
    engine = make_engine(settings.resolved_database_url)
    if check:
        check_schema(engine)
    return engine


def _cmd_init_db(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    engine = _engine(settings, check=False)
    upgrade(engine)
    check_schema(engine)
    return {"database": engine.url.render_as_string(hide_password=True), "status": "up to date"}


def _cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.demo.seed import seed_demo

    engine = _engine(settings)
    started = time.perf_counter()
    report = seed_demo(engine=engine, settings=settings)
    return {
        "models": list(report.models),
        "predictions": report.predictions,
        "labels": report.labels,
        "skipped": report.skipped,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _cmd_models(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories import registry
    from db.session import session_scope

    engine = _engine(settings)
    models = []
    with session_scope(engine) as session:
        for model in registry.list_models(session=session):
            production = registry.production_version(session=session, model_id=model.id)
            models.append(
                {
                    "name": model.name,
                    "task": model.task,
                    "classes": list(model.class_labels),
                    "production_version": production.version if production else None,
                    "versions": [
                        {
                            "version": v.version,
                            "status": v.status,
                            "created_at": v.created_at.isoformat(),
                            "created_by": v.created_by,
                            "holdout_metrics": v.holdout_metrics,
                        }
                        for v in model.versions
                    ],
                }
            )
    return {"models": models}


def _print_init_db(result: dict[str, Any]) -> None:
    print(f"{result['database']}: schema {result['status']}")


def _print_seed(result: dict[str, Any]) -> None:
    if result["skipped"]:
        print("demo data already present; nothing seeded (remove var/ to start over)")
        return
    print(
        f"seeded {', '.join(result['models'])}: {result['predictions']:,} predictions, "
        f"{result['labels']:,} labels in {result['seconds']} s"
    )


def _print_models(result: dict[str, Any]) -> None:
    if not result["models"]:
        print("no models registered (run `python -m services.cli seed-demo` for the demo)")
        return
    for model in result["models"]:
        prod = model["production_version"]
        print(f"{model['name']} ({model['task']}, {len(model['classes'])} classes), "
              f"production: {'v' + str(prod) if prod else 'none'}")
        for v in model["versions"]:
            acc = v["holdout_metrics"].get("accuracy")
            acc_text = f", holdout accuracy {acc:.3f}" if isinstance(acc, float) else ""
            print(f"  v{v['version']}  {v['status']:<10} {v['created_at'][:19]}  "
                  f"by {v['created_by']}{acc_text}")


Command = tuple[Callable[[argparse.Namespace, Settings], dict[str, Any]],
                Callable[[dict[str, Any]], None]]

COMMANDS: dict[str, Command] = {
    "init-db": (_cmd_init_db, _print_init_db),
    "seed-demo": (_cmd_seed_demo, _print_seed),
    "models": (_cmd_models, _print_models),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="python -m services.cli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    helps = {
        "init-db": "create the database or upgrade it to the current schema",
        "seed-demo": "train the demo models and log 14 days of demo history (once)",
        "models": "list models, their versions and which one serves production",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    run, show = COMMANDS[args.command]
    try:
        settings = get_settings()
        result = run(args, settings)
    except (SchemaError, SettingsError, CliError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OperationalError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else "unknown error"
        print(f"error: the database cannot be used ({reason}); check OPSDASH_DATABASE_URL",
              file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        show(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
