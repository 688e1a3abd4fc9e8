"""Where a webhook may point: http or https, no credentials in the URL, and a host (with
its port, if given) on the allow-list of ``OPSDASH_ALERT_WEBHOOK_HOSTS``.

The allow-list is the defence against a rule becoming a way to reach internal addresses:
only hosts an administrator named in the configuration can be called, and deliveries never
follow redirects (so an allowed host cannot bounce a request elsewhere).
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["TargetError", "allowed_hosts", "check_target"]

#: Longest webhook URL accepted (the column's size).
MAX_URL = 500


class TargetError(ValueError):
    """A webhook URL is refused; the message says why."""


def allowed_hosts(setting: str) -> frozenset[str]:
    """The allow-list setting as lower-case ``host`` and ``host:port`` entries."""
    return frozenset(item.strip().lower() for item in setting.split(",") if item.strip())


def check_target(url: str, allowed: str) -> str:
    """``url`` if a webhook may call it, else raise :class:`TargetError`.

    An entry ``host`` allows any port of that host; ``host:port`` only that port. Hosts
    are compared as written (no DNS lookup): ``localhost`` and ``127.0.0.1`` are different
    entries.
    """
    if len(url) > MAX_URL:
        raise TargetError(f"webhook: at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError("webhook: must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise TargetError("webhook: must not carry a user name or password (the body is "
                          "signed instead)")
    try:
        port = parts.port
    except ValueError:
        raise TargetError("webhook: the port is not a number from 1 to 65535") from None
    host = parts.hostname.lower()
    hosts = allowed_hosts(allowed)
    if not hosts:
        raise TargetError("webhook: no host is allowed; an administrator lists them in "
                          "OPSDASH_ALERT_WEBHOOK_HOSTS")
    if host in hosts or (port is not None and f"{host}:{port}" in hosts) or (
            port is None and f"{host}:{443 if parts.scheme == 'https' else 80}" in hosts):
        return url
    raise TargetError(f"webhook: host {host!r} is not in OPSDASH_ALERT_WEBHOOK_HOSTS")
