"""The kinds of value an ``OPSDASH_*`` setting may hold, with their checks.

:mod:`services.settings` declares each setting with one of these; an out-of-range message
states the whole range, and a value that fails a check says what it must be.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

__all__ = ["Count", "Port", "Positive", "ProxyList", "PublicUrl", "Secret", "Share",
           "TimeZone", "WebhookUrl", "WholeSeconds", "allowed_range"]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a known IANA time zone") from None
    return name


def _public_url(value: str) -> str:
    if not value:
        return value
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port that is not a number or is out of range
    except ValueError:
        parts = urlsplit("")
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.username
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise ValueError("must be the dashboard's address as browsers open it: http or "
                         "https, a host and an optional port, nothing after (like "
                         "https://dash.example.com)")
    return value


def _webhook_url(value: str) -> str:
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise ValueError("must be an http or https URL (like https://airflow.example.com/api/"
                         "v1/dags/retrain/dagRuns)")
    return value


def _address_list(text: str) -> str:
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"holds {item!r}, which is not an IP address or network") from None
    return ",".join(networks)


#: A TCP port.
Port = Annotated[int, Field(ge=1, le=65535)]
#: A duration, interval or rate (seconds, hours, requests a second): greater than 0.
Positive = Annotated[float, Field(gt=0)]
#: A duration in whole seconds: at least 1.
WholeSeconds = Annotated[int, Field(ge=1)]
#: How many of something (rows, bytes, labels, failures, days): at least 1.
Count = Annotated[int, Field(ge=1)]
#: A share of requests: 0 to 1.
Share = Annotated[float, Field(ge=0, le=1)]
#: An IANA time zone name that this machine knows (``UTC``, ``Europe/Berlin``).
TimeZone = Annotated[str, AfterValidator(_known_zone)]
#: The address browsers open the dashboard at: scheme, host and port (``https://dash.example``),
#: or empty for "the Host each request came to".
PublicUrl = Annotated[str, AfterValidator(_public_url)]
#: Where a handed-off retrain job is POSTed: an http or https URL, or empty.
WebhookUrl = Annotated[str, AfterValidator(_webhook_url)]
#: Addresses or networks, comma-separated (``10.0.0.5, 10.1.0.0/16``), stored normalised.
ProxyList = Annotated[str, AfterValidator(_address_list)]
#: A credential: left out of ``repr``, ``str`` and ``model_dump``, and out of error messages.
Secret = Annotated[str, Field(repr=False, exclude=True)]


def allowed_range(field: FieldInfo) -> str:
    """The allowed values of a ranged field, in words."""
    low_incl, low_excl, high = (_bound(field, name) for name in ("ge", "gt", "le"))
    if low_incl is not None:
        return f"between {low_incl} and {high}" if high is not None else f"at least {low_incl}"
    if high is not None:
        return f"greater than {low_excl} and at most {high}"
    return f"greater than {low_excl}"


def _bound(field: FieldInfo, name: str) -> object:
    # ``Field(ge=1)`` is stored as a constraint object with a ``ge`` attribute.
    return next((getattr(m, name) for m in field.metadata if hasattr(m, name)), None)
