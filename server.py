"""The dashboard's server: the Streamlit app plus the sign-in routes and the origin check.

Run with ``streamlit run server.py`` (``make demo`` does). ``app.py`` is the router.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from dashboard.resources import private_state
from dashboard.web_routes import middleware, routes

private_state()

# Streamlit treats a ``pages/`` folder beside the main script as the old multipage layout
# until the first run calls ``st.navigation``: the very first visit after a start could run
# a page file directly by its URL, bypassing the router. Every page checks the role itself
# anyway; this makes the router the only way in from the first request.
PagesManager.uses_pages_directory = False

# The middleware refuses a websocket opened by a page of another origin (another port of
# this host included), which Streamlit would let in with the sign-in cookie.
app = st.App("app.py", routes=routes(), middleware=middleware())
