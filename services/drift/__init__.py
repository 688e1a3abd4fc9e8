"""Data and prediction drift: the statistical tests, the samples they read, per-column and
dataset verdicts, configuration and what the Drift page shows."""
