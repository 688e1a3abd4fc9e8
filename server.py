"""The dashboard's server: the Streamlit app plus the sign-in routes.

Run with ``streamlit run server.py`` (``make demo`` does). ``app.py`` is the router.
"""

from __future__ import annotations

import streamlit as st

from dashboard.web_routes import routes

app = st.App("app.py", routes=routes())
