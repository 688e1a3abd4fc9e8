"""Promotion and rollback of model versions: the evidence, the policy that judges it, and the
one transaction that moves the production pointer, writes the ledger and the audit entry.

- :mod:`services.promotion.evidence`: two versions compared on the labelled predictions both
  answered (paired difference, McNemar, per-class recall, serving record).
- :mod:`services.promotion.policy`: the promotion policy (a TOML file, defaults built in) and
  the verdict it gives: *pass*, *fail* or *insufficient evidence*.
- :mod:`services.promotion.actions`: promote and roll back (compare-and-set, audited), the
  ledger, and what served production at a given time.
"""
