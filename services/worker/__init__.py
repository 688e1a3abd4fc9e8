"""The worker: ``python -m services.worker``, the stack's long-running process of periodic
tasks.

- :mod:`services.worker.loop`: the tasks, each with its own cadence, and the loop that runs
  them until it is asked to stop.
- :mod:`services.worker.bake`: the bake watch's decision, a pure function of figures.
- :mod:`services.worker.bake_watch`: what the bake watch reads (the store, Prometheus) and
  the automatic rollback it makes on a breach.
- :mod:`services.worker.retrain_task`: the retrain task, which fails abandoned jobs, claims
  the next one and watches the training child it starts for it.
- :mod:`services.worker.train_job`: that child, ``python -m services.worker.train_job``.

Later capabilities (alert evaluation) add tasks to the list in
:mod:`services.worker.__main__`.
"""
