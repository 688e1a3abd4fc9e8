"""``register-model`` and ``add-version``: the command line of
:mod:`services.registry.registration`.

Kept apart from ``services/cli/main.py``, which only registers them: :func:`add_parsers` adds the
subcommands, :data:`COMMANDS` holds their ``(run, show)`` pairs for the command table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, checked_engine

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_MODEL_EPILOG = """\
Example, a binary model whose logs come from another serving stack:

  python -m services.cli register-model churn --task binary --classes stays,churns \\
      --feature tenure_months:number --feature plan:category:basic|pro
  python -m services.cli add-version churn
  python -m services.cli import-predictions churn-may.csv

Classes are in the order of the model's probability vector. A category feature may list
its known values after a second colon (for information: other values are accepted and
show as drift). Acts as the local admin `cli`; the change is audited.
"""

_VERSION_EPILOG = """\
Without --artifact the version is one served elsewhere: its logs can be imported and
labelled, but it cannot be shadow-scored and gives the Drift page no training sample.
With --artifact (a pickled scikit-learn pipeline with predict_proba over the model's
features) the file is loaded once to check it answers the model's classes, and its
SHA-256 is stored: every later load is checked against it. The version is registered as
a candidate. Acts as the local admin `cli`; the change is audited.

With --job (a retrain job handed to an outside pipeline, OPSDASH_RETRAIN_BACKEND=webhook)
the version is that job's result: registered with the job's training window and the
metrics of --metrics (a JSON file: the holdout figures the promotion evidence shows), the
job ends succeeded with it, in one transaction; a job that is not handed off and running
is refused.
"""


def add_parsers(sub: Any) -> None:
    """Add ``register-model`` and ``add-version`` to the subcommands ``sub``."""
    text = "register a model (name, task, classes, features) so its logs can be imported"
    p: argparse.ArgumentParser = sub.add_parser(
        "register-model", help=text, description=text, epilog=_MODEL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="letters, digits, '.', '_' and '-' (at most 100)")
    p.add_argument("--task", required=True, choices=("binary", "multiclass"))
    p.add_argument("--classes", required=True,
                   help="comma-separated class labels, in probability order")
    p.add_argument("--feature", action="append", default=[], metavar="NAME:TYPE",
                   help="a feature: NAME:number or NAME:category[:a|b|c] (repeat per feature)")
    p.add_argument("--description", default="", help="free text shown with the model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    text = "register the next version of a model as a candidate (with or without artifact)"
    p = sub.add_parser("add-version", help=text, description=text, epilog=_VERSION_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered model's name (see `models`)")
    p.add_argument("--artifact", type=Path, help="the version's pickled pipeline, if any")
    p.add_argument("--notes", default="", help="free text kept with the version")
    p.add_argument("--job", type=int, help="register the version as this retrain job's result")
    p.add_argument("--metrics", type=Path,
                   help="with --job: a JSON file of the version's holdout metrics")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _run_register_model(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.registry.registration import parse_feature, register_model

    classes = [c.strip() for c in args.classes.split(",")]
    features = [parse_feature(f) for f in args.feature]
    with checked_engine(settings) as engine:
        registered = register_model(engine=engine, actor=CLI, name=args.name, task=args.task,
                                    classes=classes, features=features,
                                    description=args.description)
    return {"model": registered.name, "task": registered.task,
            "classes": list(registered.classes), "features": list(registered.features)}


def _metrics(path: Path | None) -> dict[str, Any]:
    import json

    if path is None:
        raise CliError("--job needs --metrics FILE (a JSON object of the holdout metrics)")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"--metrics {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"--metrics {path} is not a JSON file ({exc})") from None
    if not isinstance(found, dict):
        raise CliError(f"--metrics {path} must hold a JSON object")
    return found


def _run_job_version(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.retrain.callback import (
        CallbackError,
        JobCancelledError,
        NotHandedOffError,
        register_result,
    )
    from services.retrain.jobs import get_job

    metrics = _metrics(args.metrics)
    with checked_engine(settings) as engine:
        try:
            if get_job(engine=engine, job_id=args.job).model != args.model:
                raise CliError(f"retrain job {args.job} is not a job of {args.model}")
            job = register_result(engine=engine, job_id=args.job, token=None,
                                  actor=CLI.username, artifact=args.artifact,
                                  metrics=metrics, notes=args.notes)
        except (CallbackError, JobCancelledError, NotHandedOffError) as exc:
            raise CliError(str(exc)) from None
        return {"model": job.model, "version": job.result_version, "status": "candidate",
                "job": job.id}


def _run_add_version(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.registry.registration import register_version

    if args.job is not None:
        return _run_job_version(args, settings)
    if args.metrics is not None:
        raise CliError("--metrics goes with --job (a retrain job's result)")
    with checked_engine(settings) as engine:
        added = register_version(engine=engine, actor=CLI, model=args.model,
                                 artifact=args.artifact, notes=args.notes)
    return {"model": added.model, "version": added.version, "status": "candidate",
            "artifact_path": added.artifact_path or None,
            "artifact_sha256": added.artifact_sha256 or None}


def _print_model(result: dict[str, Any]) -> None:
    features = ", ".join(f"{f['name']} ({f['type']})" for f in result["features"])
    print(f"registered {result['model']} ({result['task']}: {', '.join(result['classes'])}); "
          f"features: {features}")
    print(f"next: python -m services.cli add-version {result['model']}")


def _print_version(result: dict[str, Any]) -> None:
    if result.get("job") is not None:
        print(f"registered {result['model']} v{result['version']} as a candidate, the result "
              f"of retrain job {result['job']} (succeeded)")
        return
    artifact = (f"artifact {result['artifact_path']} (sha256 {result['artifact_sha256'][:12]}…)"
                if result["artifact_path"] else "no artifact (served elsewhere)")
    print(f"registered {result['model']} v{result['version']} as a candidate; {artifact}")


#: ``(run, show)`` of each command, for the command table of ``services.cli.main``.
COMMANDS: dict[str, Command] = {
    "register-model": (_run_register_model, _print_model),
    "add-version": (_run_add_version, _print_version),
}
