"""``python -m services.worker.train_job JOB_ID WORKER_ID``: the training child of the worker.

The worker claims a job and starts this process for it, so training (memory, a crash, a
pipeline's own code) never takes the worker down and the worker's other tasks keep their
cadence. The child runs the job with :func:`services.retrain.runner.run_job`; a heartbeat
thread renews the job's lease every third of it between the training's own reports.

When the worker that started it dies (``kill -9``: the child is re-parented), the child
stops speaking for the job at its next heartbeat or report, registers nothing and exits;
the job's lease then runs out and the next worker (or the restarted one) fails the job.

Exit codes: 0 the job ended (succeeded, failed or cancelled: the job row says which);
3 the job was no longer this worker's; 2 bad arguments or settings.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
from collections.abc import Sequence

from services.files import private_umask
from services.retrain import jobs
from services.retrain.progress import Reporter
from services.retrain.runner import run_job
from services.settings import SettingsError, get_settings

__all__ = ["EXIT_LOST", "main"]

logger = logging.getLogger("services.worker.train_job")

#: Exit code of a child whose job was no longer its worker's.
EXIT_LOST = 3


def _heartbeat(reporter: Reporter, every_s: float, done: threading.Event) -> None:
    """Beat every ``every_s`` until ``done`` is set or the job is no longer ours.

    A run that lost its job stops at its next report; one in a long step that reports
    nothing (a single fit of a large window) is ended here after one more beat's time,
    so an orphaned child never trains on for nobody.
    """
    while not done.wait(every_s):
        if reporter.beat():
            continue
        if not done.wait(every_s) and not reporter.committed:
            logger.warning("job %d is no longer this worker's; stopping the training process",
                           reporter.job_id)
            logging.shutdown()
            os._exit(EXIT_LOST)
        return


def _arguments(argv: Sequence[str]) -> tuple[int, str] | None:
    if len(argv) != 2 or not argv[0].isdigit() or not argv[1]:
        return None
    return int(argv[0]), argv[1]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one claimed job; returns the exit code (module notes)."""
    parsed = _arguments(sys.argv[1:] if argv is None else argv)
    if parsed is None:
        print("usage: python -m services.worker.train_job JOB_ID WORKER_ID", file=sys.stderr)
        return 2
    job_id, worker_id = parsed
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"train_job: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level="INFO", format=f"%(asctime)s %(levelname)s %(name)s[job {job_id}]"
                        ": %(message)s")
    from db.session import make_engine

    parent = os.getppid()
    engine = make_engine(settings.resolved_database_url)
    lease = settings.retrain_lease_seconds
    reporter = Reporter(engine=engine, job_id=job_id, worker_id=worker_id, lease_seconds=lease,
                        alive=lambda: os.getppid() == parent)
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(reporter, lease / 3, done),
                            name="heartbeat", daemon=True)
    try:
        job = jobs.get_job(engine=engine, job_id=job_id)
        beat.start()
        result = run_job(engine=engine, job=job, reporter=reporter,
                         artifacts_dir=settings.resolved_artifacts_dir)
    finally:
        done.set()
        engine.dispose()
    # Linux counts ru_maxrss in kB: the child's own peak, for the operator and the benchmark.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    logger.info("job %d %s (peak memory %.0f MB)%s", job_id, result.status, peak_mb,
                f": {result.error}" if result.error else "")
    return EXIT_LOST if result.status == "lost" else 0


if __name__ == "__main__":
    private_umask()
    raise SystemExit(main())
