"""The worker: ``python -m services.worker``, the stack's long-running process of periodic
tasks.

- :mod:`services.worker.loop`: the tasks, each with its own cadence, and the loop that runs
  them until it is asked to stop.
- :mod:`services.worker.bake`: the bake watch's decision, a pure function of figures.
- :mod:`services.worker.bake_watch`: what the bake watch reads (the store, Prometheus) and
  the automatic rollback it makes on a breach.

Later capabilities (retraining jobs, alert evaluation) add tasks to the list in
:mod:`services.worker.__main__`.
"""
