"""Audit log: who changed what, and when. Read-only; admins and operators."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard.auth import guard
from dashboard.resources import engine_for, settings
from services.access import View
from services.audit import audit_actions, audit_actors, audit_csv, query_audit

#: Rows shown on the page; the CSV export holds up to :data:`EXPORT_LIMIT`.
PAGE_LIMIT = 1_000
EXPORT_LIMIT = 100_000
EVERYONE, EVERY_ACTION = "(everyone)", "(every action)"


def _entries(n: int) -> str:
    return f"{n:,} {'entry' if n == 1 else 'entries'}"


user = guard(View.AUDIT)
config = settings()
engine = engine_for(config.resolved_database_url)
zone = ZoneInfo(config.timezone)

today = datetime.now(zone).date()
with st.container(horizontal=True, vertical_alignment="bottom"):
    who = st.selectbox("Actor", [EVERYONE, *audit_actors(engine=engine, actor=user)])
    action = st.selectbox("Action", [EVERY_ACTION, *audit_actions(engine=engine, actor=user)])
    days = st.date_input(
        f"Days ({config.timezone})", value=(today - timedelta(days=6), today), max_value=today,
        format="YYYY-MM-DD",
    )

if not isinstance(days, tuple) or len(days) != 2:
    st.info("Pick the last day of the range too.", icon=":material/date_range:")
    st.stop()
first, last = days
since = datetime.combine(first, time.min, zone)
until = datetime.combine(last + timedelta(days=1), time.min, zone)
filters = {
    "who": None if who == EVERYONE else who,
    "action": None if action == EVERY_ACTION else action,
    "since": since,
    "until": until,
}
entries = query_audit(engine=engine, actor=user, limit=PAGE_LIMIT + 1, **filters)
shown = entries[:PAGE_LIMIT]

if not shown:
    st.info(
        "No audit entries match these filters: widen the days or choose another actor or "
        "action.", icon=":material/search_off:",
    )
else:
    frame = pd.DataFrame(
        {
            "Time": [e.ts.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") for e in shown],
            "Actor": [e.actor for e in shown],
            "Action": [e.action for e in shown],
            "Object": [f"{e.object_type} {e.object_id}".strip() for e in shown],
            "Details": [
                json.dumps(dict(e.details), ensure_ascii=False, sort_keys=True) if e.details
                else "" for e in shown
            ],
        }
    )
    more = len(entries) > PAGE_LIMIT
    st.caption(
        f"{'Latest ' if more else ''}{_entries(len(shown))}, newest first; times in "
        f"{config.timezone}." + (" Narrow the filters or export to see them all." if more else "")
    )
    st.dataframe(frame, hide_index=True, width="stretch")


@st.fragment
def _export() -> None:
    # Built on request only: a large log is not read on every page run.
    if st.button("Prepare CSV export", icon=":material/download:"):
        rows = query_audit(engine=engine, actor=user, limit=EXPORT_LIMIT, **filters)
        st.download_button(
            f"Download {_entries(len(rows))} (CSV)",
            data=audit_csv(rows),
            file_name=f"opsdash-audit-{first:%Y%m%d}-{last:%Y%m%d}.csv",
            mime="text/csv",
            icon=":material/download:",
        )


_export()
st.caption("The audit log is append-only: the application cannot edit or delete an entry.")
