"""opsdash dashboard: the router. Run with ``streamlit run app.py``.

Sets the page configuration and navigation; each page lives in ``pages/``.
"""

from __future__ import annotations

import logging

import streamlit as st

from dashboard.resources import engine_for, settings
from db.schema import SchemaError

st.set_page_config(page_title="opsdash", page_icon=":material/monitoring:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
]

page = st.navigation(PAGES)
config = settings()
try:
    engine_for(config.resolved_database_url)
except SchemaError as exc:
    st.error(f"The feedback store is not ready: {exc}.", icon=":material/database:")
    st.stop()
except Exception:
    logging.getLogger("opsdash").exception("cannot open the feedback store")
    st.error(
        "The feedback store cannot be opened. Check OPSDASH_DATABASE_URL and the server log.",
        icon=":material/database:",
    )
    st.stop()

st.title(page.title)
page.run()
