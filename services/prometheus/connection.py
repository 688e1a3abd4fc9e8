"""How to reach Prometheus, from the settings: URL, timeout, headers, auth, CA bundle.

Every ``OPSDASH_PROMETHEUS_*`` connection setting is checked here, before any request, so
a typo stops with one line naming the variable (never repeating a secret value).
"""

from __future__ import annotations

import string
from pathlib import Path

from services.prometheus.source import PrometheusSource
from services.settings import Settings, SettingsError

__all__ = ["parse_basic_auth", "parse_headers", "source_from_settings"]

#: Characters of an HTTP header name (RFC 9110 "token").
_HEADER_NAME = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


def parse_headers(text: str, *, variable: str = "OPSDASH_PROMETHEUS_HEADERS") -> dict[str, str]:
    """``Name=value;Other=value`` as a dict ('' gives none). Values may not contain ``;``.

    Raises:
        SettingsError: an entry without ``=``, a malformed name or a line break in a value
            (the message names the variable and the header, never the value).
    """
    headers: dict[str, str] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not name or not set(name) <= _HEADER_NAME:
            raise SettingsError(
                f"{variable}: entry {number} is not Name=value (e.g. X-Scope-OrgID=tenant1)"
            )
        if "\r" in value or "\n" in value:
            raise SettingsError(f"{variable}: the value of {name} holds a line break")
        headers[name] = value.strip()
    return headers


def parse_basic_auth(
    text: str, *, variable: str = "OPSDASH_PROMETHEUS_BASIC_AUTH"
) -> tuple[str, str] | None:
    """``user:password`` as a pair ('' gives ``None``); the password may contain ``:``.

    Raises:
        SettingsError: no ``:`` or an empty user name (the value is not repeated).
    """
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise SettingsError(f"{variable} must be user:password")
    return user, password


def source_from_settings(settings: Settings) -> PrometheusSource:
    """The Prometheus client the settings describe (URL, timeout, headers, auth, CA bundle).

    Raises:
        SettingsError: malformed headers or basic auth, two ways of setting the
            ``Authorization`` header at once, or a CA bundle file that does not exist.
    """
    headers = parse_headers(settings.prometheus_headers)
    basic_auth = parse_basic_auth(settings.prometheus_basic_auth)
    authorization = [
        name
        for name, given in (
            ("OPSDASH_PROMETHEUS_BEARER_TOKEN", bool(settings.prometheus_bearer_token)),
            ("OPSDASH_PROMETHEUS_BASIC_AUTH", basic_auth is not None),
            (
                "an Authorization header in OPSDASH_PROMETHEUS_HEADERS",
                any(n.lower() == "authorization" for n in headers),
            ),
        )
        if given
    ]
    if len(authorization) > 1:
        raise SettingsError(f"set only one of {' and '.join(authorization)}")
    ca_bundle = settings.prometheus_ca_bundle or None
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise SettingsError(f"OPSDASH_PROMETHEUS_CA_BUNDLE={ca_bundle!r} is not a file")
    return PrometheusSource(
        settings.prometheus_url,
        timeout=settings.prometheus_timeout,
        headers=headers,
        bearer_token=settings.prometheus_bearer_token or None,
        basic_auth=basic_auth,
        ca_bundle=ca_bundle,
    )
