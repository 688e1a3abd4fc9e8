"""Accounts and signing in: users, passwords, sign-in, sessions, signed tokens, user names and
the demo's accounts. Roles and permissions are :mod:`services.access`."""
