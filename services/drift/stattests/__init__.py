"""The drift statistics, one test a module.

Every module here holds one test as a pure function of the two prepared samples
(:class:`services.drift.samples.Sample`, reference first), plus its own helpers::

    def compute(reference: Sample, current: Sample, *, exact: bool = True) -> float

It returns the figure the test reports, a p-value or a distance, for two samples of the
same kind, each with at least one value. ``exact`` asks for the exact distribution where a
test has one (``False``: an asymptotic one, faster for many small windows); a test without
that choice ignores it. What the figure means (p-value or distance, default threshold,
which column kinds the test judges) is written once, in :mod:`services.drift.registry`.
"""
