"""The banner of firing alerts, at the top of every page, for the roles that can act.

Admins and operators (who may handle alerts) see "2 alerts firing: churn accuracy 64 % <
75 % (1,920 labels); …" with a link to the Alerts page; labelers and analysts see nothing.
The list comes from the store at most every :data:`dashboard.data.BANNER_TTL_SECONDS`
seconds per dashboard process (cached), so the banner costs a page run a cache lookup;
silenced alerts are left out. A store that cannot answer hides the banner (logged): the
page itself says what is wrong with the store.
"""

from __future__ import annotations

import logging

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from dashboard import format as fmt
from dashboard.alerts_view import banner_text
from dashboard.data import firing_alerts
from services.access import Action, Principal, can
from services.settings import Settings

__all__ = ["ALERTS_PAGE", "show_alert_banner"]

#: The Alerts page's script, the banner's link.
ALERTS_PAGE = "pages/alerts.py"
_log = logging.getLogger("opsdash.alerts")


def show_alert_banner(*, user: Principal, config: Settings,
                      link: StreamlitPage | str | None = ALERTS_PAGE) -> None:
    """Say which alerts fire now, if ``user`` may act on them; ``link``: the Alerts page
    to link to (``None`` on the Alerts page itself)."""
    if not can(user.role, Action.HANDLE_ALERTS):
        return
    try:
        alerts = firing_alerts(config.resolved_database_url)
    except Exception:  # the banner must never break the page under it
        _log.exception("cannot read the firing alerts for the banner")
        return
    text = banner_text(alerts)
    if not text:
        return
    critical = any(a.severity == "critical" for a in alerts if not a.silenced)
    with st.container(key="opsdash-alert-banner"):
        (st.error if critical else st.warning)(fmt.md_text(text),
                                               icon=":material/notifications_active:")
        if link is not None:
            st.page_link(link, label="Open the Alerts page",
                         icon=":material/notifications:")
