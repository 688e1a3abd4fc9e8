"""Users: accounts, roles, lock-outs and passwords. Admins only; every change is audited."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import format as fmt
from dashboard.auth import guard
from dashboard.resources import engine_for, settings
from services.access import PermissionDenied, Role, View
from services.auth.passwords import MIN_PASSWORD_LENGTH, PasswordPolicyError
from services.auth.users import (
    UserError,
    create_user,
    disable_user,
    enable_user,
    end_sessions,
    list_users,
    set_password,
    set_role,
)

user = guard(View.USERS)
config = settings()
engine = engine_for(config.resolved_database_url)
ROLES = [role.value for role in Role]
_DONE = "_opsdash_users_done"

if done := st.session_state.pop(_DONE, None):
    st.success(fmt.md_text(done), icon=":material/check_circle:")

accounts = list_users(engine=engine, actor=user)
frame = pd.DataFrame(
    {
        "User": [a.username for a in accounts],
        "Role": [a.role.value for a in accounts],
        "E-mail (single sign-on)": [a.email or "" for a in accounts],
        "Password": ["set" if a.has_password else "none (single sign-on only)"
                     for a in accounts],
        "State": [
            "disabled" if a.disabled else (
                f"locked until {fmt.when(a.locked_until, config.timezone)}"
                if a.locked_until else "active")
            for a in accounts
        ],
        "Failed sign-ins": [a.failed_attempts for a in accounts],
        "Created": [fmt.when(a.created_at, config.timezone) for a in accounts],
    }
)
st.dataframe(frame, hide_index=True, width="stretch")


def _attempt(change, success: str) -> None:  # type: ignore[no-untyped-def]
    """Run a change; report its refusal in plain words, or rerun to show the new state."""
    try:
        change()
    except (UserError, PasswordPolicyError, PermissionDenied) as exc:
        st.error(f"Not changed: {fmt.md_text(str(exc))}.", icon=":material/error:")
        return
    st.session_state[_DONE] = success
    st.rerun()


names = [a.username for a in accounts]
add, change = st.columns(2)

with add, st.form("add-user", clear_on_submit=True, border=True):
    st.subheader("Add a user", anchor=False)
    new_name = st.text_input("User name", max_chars=64,
                             help="Letters, digits and . _ - @ ; stored in lower case.")
    new_role = st.selectbox("Role", ROLES, index=ROLES.index(Role.ANALYST.value))
    new_email = st.text_input("E-mail for single sign-on (optional)", max_chars=254)
    new_password = st.text_input(
        "Initial password (leave empty for single sign-on only)", type="password",
        help=f"At least {MIN_PASSWORD_LENGTH} characters, not a common password, a "
             "repetition or a run like 1234567890, and without the user name.",
    )
    if st.form_submit_button("Add user", type="primary"):
        _attempt(
            lambda: create_user(engine=engine, actor=user, username=new_name, role=new_role,
                                password=new_password or None, email=new_email or None),
            f"User {new_name.strip().lower()} added as {new_role}.",
        )

with change, st.container(border=True):
    st.subheader("Change a user", anchor=False)
    target = st.selectbox("User", names, key="target")
    chosen = next((a for a in accounts if a.username == target), None)
    if chosen is not None:
        role = st.selectbox("Role", ROLES, index=ROLES.index(chosen.role.value),
                            key=f"role-{chosen.username}")
        if st.button("Change role", disabled=role == chosen.role.value):
            _attempt(lambda: set_role(engine=engine, actor=user, username=chosen.username,
                                      role=role),
                     f"{chosen.username} is now {role}.")
        password = st.text_input("New password", type="password",
                                 key=f"password-{chosen.username}")
        if st.button("Set password", disabled=not password):
            _attempt(lambda: set_password(engine=engine, actor=user, username=chosen.username,
                                          password=password),
                     f"Password of {chosen.username} set; any lock-out is lifted.")
        if st.button("End sessions", help="Signs the user out everywhere; the account stays "
                     "as it is, and they may sign in again."):
            _attempt(lambda: end_sessions(engine=engine, actor=user, username=chosen.username),
                     f"Every session of {chosen.username} has ended.")
        if chosen.disabled or chosen.locked_until or chosen.failed_attempts:
            if st.button("Enable and unlock"):
                _attempt(lambda: enable_user(engine=engine, actor=user,
                                             username=chosen.username),
                         f"{chosen.username} may sign in again.")
        elif st.button("Disable", type="secondary", disabled=chosen.username == user.username,
                       help="You cannot disable yourself."):
            _attempt(lambda: disable_user(engine=engine, actor=user, username=chosen.username),
                     f"{chosen.username} is disabled; open sessions end at their next page.")

st.caption(
    "Accounts can also be managed on the server: `python -m services.cli users --help`. "
    "Every change here is written to the audit log."
)
