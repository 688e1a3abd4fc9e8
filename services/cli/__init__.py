"""The command line for operators and pipelines: ``python -m services.cli COMMAND``."""
