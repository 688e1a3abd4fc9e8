"""The local stack of ``make demo``: launcher, processes, Prometheus configuration and backfill,
the traffic simulator and the demo's data."""
