"""opsdash dashboard: the router. Served by ``streamlit run server.py``.

Decides who is signed in, then lists only the pages their role may open; an anonymous
visitor gets the sign-in page and nothing else (and causes no store or Prometheus query).
Each page lives in ``pages/`` and checks the role again itself.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard.alerts_banner import ALERTS_PAGE, show_alert_banner
from dashboard.auth import current_user, sso_signed_in
from dashboard.components import signout_form
from dashboard.format import md_text
from dashboard.navigation import HOME, PAGES, SIGNIN, pages_for, start_page
from dashboard.resources import settings
from db.schema import SchemaError
from services.access import Principal
from services.auth.tokens import MissingSecretError
from services.redact import redact_urls
from services.settings import SettingsError

st.set_page_config(page_title="opsdash", page_icon="📈", layout="wide")


def _who() -> Principal | None:
    try:
        return current_user()
    except MissingSecretError as exc:
        # Our own message (it names a variable and shows a command in a code span).
        st.error(f"Sign-in is not configured: {exc}. Then restart the dashboard.",
                 icon=":material/key_off:")
    except SettingsError as exc:
        # Before the catch-all below, which would blame the store for a mistyped setting.
        st.error(f"The settings cannot be used: {md_text(str(exc))}. Fix them and restart "
                 "the dashboard.", icon=":material/settings:")
    except SchemaError as exc:
        st.error(f"The feedback store is not ready: {md_text(redact_urls(str(exc)))}.",
                 icon=":material/database:")
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
        [st.Page(SIGNIN, title="Sign in", default=True),
         st.Page(SIGNIN, title="Sign in", url_path=HOME)]
        + [st.Page(SIGNIN, title="Sign in", url_path=entry.url_path) for entry in PAGES],
        position="hidden",
    ).run()
    st.stop()

allowed = pages_for(user.role)
# Every page is routable, so one reached by URL says why it refuses (each page checks the
# role itself); the sidebar links only the pages this role may open.
start = start_page(user.role)
pages = {
    entry.path: st.Page(entry.path, title=entry.title, icon=entry.icon, url_path=entry.url_path)
    for entry in PAGES
}
# The start page answers at "/" too. Streamlit serves a default page only at "/" (its own
# path, e.g. a bookmarked /overview, would be "page not found"), so "/" is a second entry.
home = st.Page(start.path, title=start.title, icon=start.icon, url_path=HOME, default=True)
page = st.navigation([home, *pages.values()], position="hidden")

with st.sidebar:
    for entry in allowed:
        st.page_link(pages[entry.path], label=entry.title, icon=entry.icon)
    st.divider()
    st.caption("Signed in as")
    st.text(f"{user.username} · {user.role}")
    signout_form(sso=sso_signed_in())

st.title(page.title)
# Firing alerts for the roles that can act, above every page (the Alerts page lists them).
show_alert_banner(user=user, config=settings(),
                  link=None if page.url_path == "alerts" else pages[ALERTS_PAGE])
page.run()
