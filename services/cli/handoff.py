"""``jobs progress`` and ``jobs fail``: a pipeline that took a handed-off retrain job
reports its progress, or that it failed.

Registered after :mod:`services.cli.retrain` (it hangs under that module's ``jobs``
command: ``jobs`` alone still lists jobs). The result is registered with ``add-version
--job`` (:mod:`services.cli.registry`). Both work on the store directly, so they need no
token: whoever reaches the store with the command line is trusted as the page is.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, Parser, checked_engine

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "EXIT_CANCEL_REQUESTED", "add_parsers"]

#: Exit status of ``jobs progress`` when an operator cancelled the job: stop the pipeline.
EXIT_CANCEL_REQUESTED = 3

_EPILOG = """\
For a job handed to an outside pipeline (OPSDASH_RETRAIN_BACKEND=webhook): records the
stage, percent and message the Models page shows. Exit status 3 when an operator
cancelled the job: stop, and report nothing more (the worker marks it cancelled). Over
HTTP the same report is POST /jobs/JOB/progress on the inference service, with the job's
callback token. Register the result with `add-version MODEL --artifact FILE --metrics
FILE --job JOB`.
"""


def add_parsers(sub: Any) -> None:
    """Add ``progress`` and ``fail`` under the ``jobs`` command of ``sub``."""
    jobs: argparse.ArgumentParser = sub.choices["jobs"]
    jobs_sub = jobs.add_subparsers(dest="subcommand", metavar="{progress,fail}",
                                   parser_class=Parser)
    text = "report the progress of a retrain job handed to an outside pipeline"
    p = jobs_sub.add_parser("progress", help=text, description=text, epilog=_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("job", type=int, help="the job's id (the job_id the pipeline received)")
    p.add_argument("--stage", required=True, help="e.g. training (at most 40 characters)")
    p.add_argument("--percent", required=True, type=float, help="0 to 100")
    p.add_argument("--message", default="", help="a detail, e.g. 'fold 3 of 5'")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(exit_status=exit_status)

    text = "end a handed-off retrain job as failed, with the pipeline's reason"
    p = jobs_sub.add_parser("fail", help=text, description=text,
                            epilog="Over HTTP: POST /jobs/JOB/result with {\"error\": \"...\"}.")
    p.add_argument("job", type=int, help="the job's id")
    p.add_argument("--error", required=True, help="why the run failed (shown on the page)")
    p.add_argument("--json", action="store_true", help="print the job as JSON")


def exit_status(args: argparse.Namespace, result: dict[str, Any]) -> int:
    """:data:`EXIT_CANCEL_REQUESTED` when the job was cancelled, else 0."""
    return EXIT_CANCEL_REQUESTED if result.get("cancel_requested") else 0


def _run_progress(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.retrain.callback import CallbackError, NotHandedOffError, report_progress

    with checked_engine(settings) as engine:
        try:
            cancel = report_progress(engine=engine, job_id=args.job, token=None,
                                     stage=args.stage, percent=args.percent,
                                     message=args.message)
        except (CallbackError, NotHandedOffError) as exc:
            raise CliError(str(exc)) from None
    return {"job": args.job, "stage": args.stage, "percent": args.percent,
            "cancel_requested": cancel}


def _run_fail(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from services.access import CLI
    from services.retrain.callback import CallbackError, NotHandedOffError, report_failure

    with checked_engine(settings) as engine:
        try:
            job = report_failure(engine=engine, job_id=args.job, token=None,
                                 actor=CLI.username, error=args.error)
        except (CallbackError, NotHandedOffError) as exc:
            raise CliError(str(exc)) from None
    return {"job": job.id, "model": job.model, "status": job.status, "error": job.error}


def _print_fail(result: dict[str, Any]) -> None:
    print(f"job {result['job']} {result['status']}: {result['error']}")


def _print_progress(result: dict[str, Any]) -> None:
    print(f"job {result['job']}: {result['stage']} {result['percent']:.0f} %")
    if result["cancel_requested"]:
        print(f"job {result['job']} was cancelled by an operator: stop the pipeline")


#: ``(run, show)`` of each subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {"jobs progress": (_run_progress, _print_progress),
                                "jobs fail": (_run_fail, _print_fail)}
