"""Alert rules, their state machine, observations from the store and backtests."""
