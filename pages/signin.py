"""Sign in: the only page an anonymous visitor sees. Reads neither the store nor Prometheus."""

from __future__ import annotations

import math

import streamlit as st

from dashboard.auth import sso_error, sso_providers, sso_sign_out, sso_signed_in
from dashboard.components import signin_form
from dashboard.format import md_text
from dashboard.resources import settings
from services.auth.demo import demo_accounts_path

#: What the sign-in route's ``?signin=`` code means; unknown codes are ignored.
MESSAGES = {
    "failed": ("error", "Wrong user name or password."),
    "locked": ("error", "Too many failed attempts: sign-in is locked for a few minutes. "
                        "Try again later, or ask an admin to unlock the account."),
    "disabled": ("error", "This account is disabled. Ask an admin to enable it."),
    "unavailable": ("error", "Sign-in is unavailable right now; the server log says why. "
                             "Ask the person who runs opsdash."),
    "signed_out": ("success", "You are signed out."),
    "throttled": ("error", "Too many failed sign-ins from your network address: sign-in from "
                           "it is paused for up to {minutes} minutes. Wait, then try again."),
}

st.title("Sign in to opsdash")
code = st.query_params.get("signin")
if code in MESSAGES:
    kind, text = MESSAGES[code]
    minutes = math.ceil(settings().signin_client_window_seconds / 60)
    (st.error if kind == "error" else st.success)(text.format(minutes=minutes))

refused = sso_error()
if refused:
    st.error(f"Single sign-on worked, but opsdash refused the account: {md_text(refused)}.")

signin_form()

providers = sso_providers()
if providers:
    st.divider()
    if sso_signed_in() and st.button("Sign out of single sign-on"):
        sso_sign_out()
    for provider in [] if sso_signed_in() else providers:
        label = "single sign-on" if provider is None else provider
        if st.button(f"Sign in with {label}", icon=":material/key:", key=f"sso-{provider}"):
            st.login(provider) if provider else st.login()

if demo_accounts_path(settings()).exists():
    st.caption(
        "Demo: `make demo` printed one account per role (admin, operator, analyst, labeler) "
        "with its password; they are also kept in `var/demo-accounts.txt`."
    )
