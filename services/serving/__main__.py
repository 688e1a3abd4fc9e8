"""``python -m services.serving [--host H] [--port P]``: run the inference service.

Checks the database schema first (exit 2 with a one-line reason when it is stale), then
serves with uvicorn until SIGTERM or SIGINT; shutdown is graceful, so in-flight requests
finish and every logged prediction is written before the process exits.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from db.schema import SchemaError, check_schema
from db.session import make_engine
from services.files import private_umask, secure_tree
from services.settings import SettingsError, get_settings

LOG_LEVELS = ("debug", "info", "warning", "error")
#: Seconds in-flight requests get to finish after SIGTERM (a prediction takes milliseconds).
GRACEFUL_SECONDS = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.serving",
        description="Run the opsdash inference service (settings from OPSDASH_* variables).",
    )
    parser.add_argument("--host", help="address to bind (default: OPSDASH_SERVING_HOST)")
    parser.add_argument("--port", type=int, help="port to bind (default: OPSDASH_SERVING_PORT)")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default="info", help="log level (default: info)"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every HTTP request (off by default)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    secure_tree(Path(settings.var_dir))
    engine = make_engine(settings.resolved_database_url,
                         busy_timeout_ms=settings.serving_busy_timeout_ms)
    try:
        check_schema(engine)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: cannot open the database: {exc.__class__.__name__}", file=sys.stderr)
        return 2
    # Configured after the schema check, so its failure stays a single line.
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Imported here: pandas and scikit-learn take seconds to load, a refusal should not.
    from services.serving.app import create_app
    from services.serving.spool import SpoolInUseError

    app = create_app(engine=engine, settings=settings)
    try:
        app.state.serving.spool.claim()
    except SpoolInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _exit_cleanly_on_signals()
    try:
        uvicorn.run(
            app,
            host=args.host or settings.serving_host,
            port=settings.serving_port if args.port is None else args.port,
            log_level=args.log_level,
            access_log=args.access_log,
            # uvicorn handles SIGTERM/SIGINT: stop accepting, finish requests, run the
            # lifespan shutdown (which drains the prediction log).
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
    except _Stopped:
        pass
    finally:
        engine.dispose()
    return 0


class _Stopped(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by the signal handlers below once uvicorn has shut down."""


def _exit_cleanly_on_signals() -> None:
    """Make SIGTERM/SIGINT end the process with status 0 after a graceful shutdown.

    uvicorn captures both signals while it serves, shuts down, then re-raises the signal
    it received against the handler found at start; with the default handlers that kills
    the process with the signal (or a KeyboardInterrupt traceback). These handlers turn
    it into a normal return from :func:`main` instead.
    """

    def _stop(_signum: int, _frame: object) -> None:
        raise _Stopped

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


if __name__ == "__main__":
    private_umask()  # the spool and anything else it writes are the owner's alone
    sys.exit(main())
