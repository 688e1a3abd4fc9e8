"""Persistence: typed SQLAlchemy models, the session helper, repositories and migrations."""
