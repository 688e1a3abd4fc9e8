"""opsdash dashboard: the router. Served by ``streamlit run server.py``.

Decides who is signed in, then lists only the pages their role may open; an anonymous
visitor gets the sign-in page and nothing else (and causes no store or Prometheus query).
Each page lives in ``pages/`` and checks the role again itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard.auth import current_user, sso_signed_in
from dashboard.components import signout_form
from db.schema import SchemaError
from services.auth import Principal, View, allowed_views
from services.auth.tokens import MissingSecretError

st.set_page_config(page_title="opsdash", page_icon="📈", layout="wide")

#: Every page: the permission that opens it (None: every signed-in user), file, title, icon.
PAGES: list[tuple[View | None, str, str, str]] = [
    (View.OVERVIEW, "pages/overview.py", "Overview", ":material/dashboard:"),
    (View.AUDIT, "pages/audit.py", "Audit log", ":material/history:"),
    (View.USERS, "pages/users.py", "Users", ":material/group:"),
    (None, "pages/account.py", "Account", ":material/person:"),
]
SIGNIN_SCRIPT = "pages/signin.py"


def _who() -> Principal | None:
    try:
        return current_user()
    except MissingSecretError as exc:
        st.error(f"Sign-in is not configured: {exc}. Then restart the dashboard.",
                 icon=":material/key_off:")
    except SchemaError as exc:
        st.error(f"The feedback store is not ready: {exc}.", icon=":material/database:")
    except Exception:
        logging.getLogger("opsdash").exception("cannot resolve the signed-in user")
        st.error(
            "The feedback store cannot be opened. Check OPSDASH_DATABASE_URL and the server log.",
            icon=":material/database:",
        )
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


user = _who()
if user is None:
    # Only the sign-in page exists for an anonymous visitor; every page's URL shows it
    # (rather than "page not found"), and after signing in the app opens at its start.
    st.navigation(
        [st.Page(SIGNIN_SCRIPT, title="Sign in", default=True)]
        + [st.Page(SIGNIN_SCRIPT, title="Sign in", url_path=Path(path).stem)
           for _, path, _, _ in PAGES],
        position="hidden",
    ).run()
    st.stop()

views = allowed_views(user.role)
allowed = [entry for entry in PAGES if entry[0] is None or entry[0] in views]
# The first page the role may open is its landing page.
page = st.navigation([
    st.Page(path, title=title, icon=icon, default=i == 0)
    for i, (_, path, title, icon) in enumerate(allowed)
])

with st.sidebar:
    st.caption("Signed in as")
    st.text(f"{user.username} · {user.role}")
    signout_form(sso=sso_signed_in())

st.title(page.title)
page.run()
