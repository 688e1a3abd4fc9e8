"""Repositories: keyword-only functions over a session, one module per noun."""
