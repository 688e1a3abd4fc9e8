"""The demo scenario: two generated models, fourteen days of history and live traffic.

Modules, smallest first:

- ``generator`` — the shared vocabulary: :class:`~devstack.demo.generator.Scenario`, samples,
  vectorised draws of categories and labels;
- ``churn`` and ``tickets`` — the two scenarios (feature schema, data and drift);
- ``scenarios`` — the catalogue of both;
- ``training`` — the scikit-learn pipeline every demo model uses;
- ``timeline`` — when requests arrive and how strong the drift is at a moment;
- ``history`` — the logged predictions and ground truth of one model's history;
- ``seed`` — :func:`~devstack.demo.seed.seed_demo`, which writes it all to the store;
- ``backfill`` — the Prometheus history matching the store, as OpenMetrics text;
- ``labels`` — delayed ground truth of live traffic: the queue and the store writer;
- ``traffic`` — the live traffic loop that ``python -m devstack.simulator`` runs.

Nothing here is imported by this package file, so the simulator can use the generators
without loading scikit-learn.
"""
