"""Which tests share a parallel worker when ``make test`` runs them with pytest-xdist.

pytest-xdist builds a module- or session-scoped fixture once in every worker that runs a
test using it: spread over four workers, the tests of the live stack would start it four
times, and a module's own dashboard, Prometheus or seeded demo store would be built up to
four times too. So a test that uses such a fixture of ours is put in a group
(``xdist_group``): the session fixture's name, or else its module. ``--dist loadgroup``
(``pyproject.toml``) sends each group to one worker as a whole and spreads the other tests
one by one. The PostgreSQL server and the migrated SQLite file that each test's store is
copied from are the exceptions: each worker makes its own, because most tests need them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

__all__ = ["PER_WORKER", "group_shared_fixtures"]

#: Session-scoped fixtures of ours that every worker builds for itself.
PER_WORKER = frozenset({"postgres", "sqlite_template"})


def group_shared_fixtures(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Mark each test that uses a shared fixture with its group; on a pytest-xdist worker
    under ``--dist loadgroup``, also name the group in the test's node id."""
    for item in items:
        group = _shared_fixture(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if getattr(config.option, "loadgroup", False):
        for item in items:
            _name_group(item)


def _shared_fixture(item: pytest.Item) -> str | None:
    """The name of a session-scoped fixture of ours the test uses, else the test's module
    when it uses a module-scoped one, else None."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    scopes = {
        name: defs[-1].scope
        for name, defs in info.name2fixturedefs.items()
        if defs and defs[-1].func.__module__.startswith("tests.") and name not in PER_WORKER
    }
    shared = sorted(name for name, scope in scopes.items() if scope == "session")
    if shared:
        return shared[0]
    if "module" in scopes.values():
        return item.nodeid.split("::", 1)[0]
    return None


def _name_group(item: pytest.Item) -> None:
    """Append ``@<group>`` to the node id, which is how the controller learns the group.

    pytest-xdist 3.8 does this itself by setting ``item._nodeid``, but pytest 9.2 keeps the
    node id in ``item._id`` (a ``NodeId``) and ignores the old attribute, so every group
    would silently be spread over the workers. Should pytest-xdist catch up, it appends the
    same name again, which its scheduler reads the same way (the part after the last ``@``).
    """
    from _pytest.nodeid import NodeId

    names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                    for mark in item.iter_markers("xdist_group")})
    if names:
        item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")  # type: ignore[attr-defined]
