"""``metrics``: a model's confusion-matrix figures on its labelled predictions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from services.cli.common import CliError, Command, checked_engine, parse_time

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = ["COMMANDS", "add_parsers"]

_EPILOG = ("Times are ISO 8601, e.g. 2024-05-01T12:00 or 2024-05-01T14:00+02:00; a time "
           "without an offset is taken as UTC. The window is on prediction time: "
           "--since inclusive, --until exclusive.")


def add_parsers(sub: Any) -> None:
    """Add ``metrics`` to the subcommands ``sub``."""
    text = ("accuracy, per-class precision / recall / F1 and the confusion matrix of a model "
            "on its labelled predictions")
    p = sub.add_parser("metrics", help=text, description=text, epilog=_EPILOG)
    p.add_argument("--model", required=True, help="model name (see `models`)")
    p.add_argument("--version", type=int, help="one version number (default: all versions)")
    p.add_argument("--since", help="predictions made at or after this time (UTC if no offset)")
    p.add_argument("--until", help="predictions made before this time (UTC if no offset)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="level of the intervals (default 0.95)")
    p.add_argument("--bootstrap", type=int, default=1000,
                   help="resamples for the F1 intervals (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _run_metrics(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from db.repositories.registry import RegistryError
    from services.quality.metrics import QualityError
    from services.quality.report import quality_report

    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    if since is not None and until is not None and since >= until:
        raise CliError("--since must be earlier than --until")
    try:
        with checked_engine(settings) as engine:
            report = quality_report(engine=engine, model=args.model, version=args.version,
                                    since=since, until=until, confidence=args.confidence,
                                    bootstrap=args.bootstrap, seed=args.seed)
    except (RegistryError, QualityError) as exc:
        raise CliError(str(exc)) from None
    return {
        "model": args.model,
        "version": args.version,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        **report.to_json(),
    }


def _fmt(value: float | None, interval: list[float] | None = None) -> str:
    if value is None:
        return "–"
    if interval is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _print_metrics(result: dict[str, Any]) -> None:
    scope = result["model"] + (f" v{result['version']}" if result["version"] else
                               " (all versions)")
    window = (f"predictions from {result['since'] or 'the start'} "
              f"until {result['until'] or 'now'}")
    if not result["n_labelled"]:
        print(f"{scope}: no labelled predictions ({window}); no metrics to show")
        return
    level = f"{result['confidence']:.0%}"
    print(f"{scope}: {result['n_labelled']:,} labelled predictions ({window})")
    print(f"accuracy {_fmt(result['accuracy'], result['accuracy_interval'])} "
          f"({result['correct']:,} correct; intervals at {level})")
    _print_per_class(result)
    _print_matrix(result)


def _print_per_class(result: dict[str, Any]) -> None:
    width = max(8, *(len(label) for label in result["labels"]))
    print(f"{'class':<{width}}  {'precision':<22} {'recall':<22} {'f1':<22} support")
    for label, c in result["per_class"].items():
        print(f"{label:<{width}}  {_fmt(c['precision'], c['precision_interval']):<22} "
              f"{_fmt(c['recall'], c['recall_interval']):<22} "
              f"{_fmt(c['f1'], c['f1_interval']):<22} {c['support']:>7,}")
    print(f"{'macro':<{width}}  {_fmt(result['macro_precision']):<22} "
          f"{_fmt(result['macro_recall']):<22} "
          f"{_fmt(result['macro_f1'], result['macro_f1_interval'])}")
    print(f"{'weighted':<{width}}  {_fmt(result['weighted_precision']):<22} "
          f"{_fmt(result['weighted_recall']):<22} {_fmt(result['weighted_f1'])}")


def _print_matrix(result: dict[str, Any]) -> None:
    width = max(8, *(len(label) for label in result["labels"]))
    print("confusion matrix (rows true, columns predicted):")
    cell = max(7, *(len(label) for label in result["labels"]))
    print(" " * width + "  " + " ".join(f"{label:>{cell}}" for label in result["labels"]))
    for label, row in zip(result["labels"], result["confusion_matrix"], strict=True):
        print(f"{label:<{width}}  " + " ".join(f"{n:>{cell},}" for n in row))


#: ``(run, show)`` of the subcommand, for the command table of :mod:`services.cli.main`.
COMMANDS: dict[str, Command] = {"metrics": (_run_metrics, _print_metrics)}
