"""``init-db`` and ``models``: the store's schema and what it registers."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from services.cli.common import Command, checked_engine
from services.redact import redact_url

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add ``init-db`` and ``models`` to the subcommands ``sub``."""
    for name, text in (
        ("init-db", "create the database or upgrade it to the current schema"),
        ("models", "list models, their versions and which one serves production"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--json", action="store_true", help="print the result as JSON")


def _run_init_db(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.schema import check_schema, upgrade
    from db.session import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        check_schema(engine)
        return {"database": redact_url(engine.url.render_as_string(hide_password=True)),
                "status": "up to date"}
    finally:
        engine.dispose()


def _run_models(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories import registry
    from db.session import session_scope

    models = []
    with checked_engine(settings) as engine, session_scope(engine) as session:
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


def _print_models(result: dict[str, Any]) -> None:
    if not result["models"]:
        print("no models registered (run `python -m devstack seed-demo` for the demo, or "
              "`python -m services.cli register-model`)")
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


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {
    "init-db": (_run_init_db, _print_init_db),
    "models": (_run_models, _print_models),
}
