"""Logged predictions: request ids, prediction-log files of other serving stacks, their rows and
the importer."""
