"""Pieces of page shared by the router and the pages: the sign-in and sign-out forms.

The forms are constant HTML (nothing a user typed is ever part of it) posting to the
routes in :mod:`dashboard.web_routes`, which set or drop the HttpOnly sign-in cookie that
Streamlit scripts cannot touch.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from dashboard.web_routes import SIGNIN_PATH, SIGNOUT_PATH
from services.views.serving import ModelChoice, model_choices

__all__ = ["registered_models", "signin_form", "signout_form", "version_label"]

_FIELD = (
    "display:block;width:100%;box-sizing:border-box;margin:0.25rem 0 0.9rem;padding:0.5rem "
    "0.75rem;border:1px solid #d1d5db;border-radius:0.5rem;font:inherit;font-size:1rem;"
    "background:#f3f5f9;color:#111827"
)
_BUTTON = (
    "padding:0.5rem 1.25rem;border:0;border-radius:0.5rem;background:#2563eb;color:#fff;"
    "font:inherit;font-size:1rem;cursor:pointer"
)

_SIGNIN_HTML = f"""
<form method="post" action="{SIGNIN_PATH}" style="max-width:24rem" autocomplete="on">
  <label for="opsdash-username" style="font-size:0.875rem">User name</label>
  <input id="opsdash-username" name="username" type="text" required maxlength="64"
         autocomplete="username" autocapitalize="none" spellcheck="false" style="{_FIELD}">
  <label for="opsdash-password" style="font-size:0.875rem">Password</label>
  <input id="opsdash-password" name="password" type="password" required maxlength="1024"
         autocomplete="current-password" style="{_FIELD}">
  <button type="submit" style="{_BUTTON}">Sign in</button>
</form>
"""

_SIGNOUT_HTML = f"""
<form method="post" action="{SIGNOUT_PATH}">
  <button type="submit" style="padding:0.3rem 0.9rem;border:1px solid #d1d5db;
    border-radius:0.5rem;background:#fff;color:#111827;font:inherit;cursor:pointer">
    Sign out</button>
</form>
"""


def signin_form() -> None:
    """The user-name and password form."""
    st.html(_SIGNIN_HTML)


def signout_form(*, sso: bool) -> None:
    """A sign-out button: ends a single sign-on session, or drops the sign-in cookie."""
    if sso:
        if st.button("Sign out", key="opsdash-sso-signout"):
            from dashboard.auth import sso_sign_out

            sso_sign_out()
        return
    st.html(_SIGNOUT_HTML)


def registered_models(engine: Engine, *, nothing_to: str) -> dict[str, ModelChoice]:
    """The registered models by name; without any, say so and stop the page.

    Args:
        engine: the store.
        nothing_to: what the page cannot show without models ("show serving for").
    """
    choices = model_choices(engine=engine)
    if not choices:
        st.info(f"No models are registered yet, so there is nothing to {nothing_to}. Start "
                "the demo with `make demo`, or register a model with the command line.",
                icon=":material/info:")
        st.stop()
    return {c.name: c for c in choices}


def version_label(choice: ModelChoice, version: str) -> str:
    """``v2 (production)`` / ``v1``: a version as the filters show it."""
    return f"v{version}" + (" (production)" if version == choice.production else "")
