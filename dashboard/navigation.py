"""The dashboard's pages and the permission that opens each: one table for the router and
the account page."""

from __future__ import annotations

from dataclasses import dataclass

from services.access import Role, View, allowed_views

__all__ = ["HOME", "PAGES", "SIGNIN", "PageEntry", "pages_for", "start_page"]


@dataclass(frozen=True)
class PageEntry:
    """A page: its script, title, icon, URL path and the view that opens it."""

    path: str
    title: str
    icon: str
    url_path: str
    #: ``None``: every signed-in user may open it.
    view: View | None


#: Every page of a signed-in user, in navigation order.
PAGES: tuple[PageEntry, ...] = (
    PageEntry("pages/overview.py", "Overview", ":material/dashboard:", "overview",
              View.OVERVIEW),
    PageEntry("pages/serving.py", "Serving", ":material/speed:", "serving", View.SERVING),
    PageEntry("pages/quality.py", "Model quality", ":material/verified:", "quality",
              View.QUALITY),
    PageEntry("pages/drift.py", "Drift", ":material/query_stats:", "drift", View.DRIFT),
    PageEntry("pages/models.py", "Models", ":material/deployed_code:", "models",
              View.LIFECYCLE),
    PageEntry("pages/alerts.py", "Alerts", ":material/notifications:", "alerts",
              View.ALERTS),
    PageEntry("pages/labeling.py", "Label feedback", ":material/label:", "labeling",
              View.LABELING),
    PageEntry("pages/audit.py", "Audit log", ":material/history:", "audit", View.AUDIT),
    PageEntry("pages/users.py", "Users", ":material/group:", "users", View.USERS),
    PageEntry("pages/account.py", "Account", ":material/person:", "account", None),
)
#: URL path of the start page's entry served at "/" (the start page also keeps its own).
HOME = "home"
#: The only page of an anonymous visitor.
SIGNIN = "pages/signin.py"


def pages_for(role: Role) -> list[PageEntry]:
    """The pages ``role`` may open, in navigation order."""
    views = allowed_views(role)
    return [page for page in PAGES if page.view is None or page.view in views]


#: Where a role starts when it is not the first page it may open.
_START = {Role.LABELER: "labeling"}


def start_page(role: Role) -> PageEntry:
    """The page a role opens at: labelers at their queue, others at their first page."""
    allowed = pages_for(role)
    wanted = _START.get(Role(role))
    return next((page for page in allowed if page.url_path == wanted), allowed[0])
