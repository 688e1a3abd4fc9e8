"""Account: who you are signed in as, and changing your own password."""

from __future__ import annotations

import streamlit as st

from dashboard.auth import current_user, sso_signed_in
from dashboard.format import md_text
from dashboard.navigation import pages_for
from dashboard.resources import engine_for, settings
from services.access import PermissionDenied, allowed_actions
from services.auth.passwords import MIN_PASSWORD_LENGTH, PasswordPolicyError
from services.auth.users import UserError, change_own_password, end_sessions

user = current_user()
if user is None:
    st.warning("Sign in to see this page.", icon=":material/lock:")
    st.stop()

config = settings()
st.text(f"User name: {user.username}")
st.text(f"Role: {user.role}")
pages = ", ".join(entry.title for entry in pages_for(user.role))
actions = ", ".join(sorted(a.value.replace("_", " ") for a in allowed_actions(user.role)))
st.text(f"Pages: {pages}")
st.text(f"Actions: {actions or 'none (read-only)'}")

if sso_signed_in():
    st.info("You signed in through single sign-on; your password is managed there.",
            icon=":material/key:")
    st.stop()

if st.button("Sign out everywhere", icon=":material/devices:",
             help="Ends every session of yours, on every browser and device, this one "
                  "included. Use it when you signed in on a shared computer."):
    end_sessions(engine=engine_for(config.resolved_database_url), actor=user,
                 username=user.username)
    st.rerun()  # this session has ended too: the sign-in page follows

with st.form("change-password", clear_on_submit=True, width=420):
    st.subheader("Change your password", anchor=False)
    current = st.text_input("Current password", type="password")
    new = st.text_input("New password", type="password",
                        help=f"At least {MIN_PASSWORD_LENGTH} characters, not a common "
                             "password, a repetition or a run like 1234567890, and without "
                             "your user name.")
    repeat = st.text_input("New password again", type="password")
    if st.form_submit_button("Change password", type="primary"):
        if new != repeat:
            st.error("The two new passwords differ; nothing was changed.")
        else:
            try:
                change_own_password(engine=engine_for(config.resolved_database_url),
                                    actor=user, current_password=current, new_password=new,
                                    settings=config)
            except (UserError, PasswordPolicyError, PermissionDenied) as exc:
                st.error(f"Not changed: {md_text(str(exc))}.")
            else:
                st.success("Password changed. Every session of yours has ended, this one "
                           "included: sign in again with the new password.")
