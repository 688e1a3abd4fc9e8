"""Benchmarks: commands that print figures and write them as JSON (never timed tests)."""
