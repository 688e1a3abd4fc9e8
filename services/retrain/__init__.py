"""Retraining's core: the training data of a window, training a candidate on it, and what
registering the candidate needs (run by the worker in a child process, never by the
dashboard)."""
