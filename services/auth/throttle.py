"""The per-client limit on failed sign-ins, and who the client is behind reverse proxies.

The per-account lock-out (:mod:`services.auth.signin`) stops guessing one account's
password, but not one client trying a few passwords on every account, and it lets anyone
lock anyone out. :class:`ClientFailures` counts failed sign-ins per client address over a
sliding window; once an address has used up its failures it is refused before its attempts
reach any account. The count lives in the memory of one dashboard process: several
replicas each keep their own (the limit multiplies by their number), and a restart forgets
it; the per-account lock-out in the store holds regardless.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ClientFailures", "ProxyNetwork", "client_address"]

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Longest client key kept (an address is at most 45 characters; anything else is cut).
_MAX_KEY = 64


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    under_way: int = 0


class ClientFailures:
    """Failed attempts per client over a sliding window, shared by the threads of a process.

    A caller asks :meth:`begin` before an attempt and reports it with :meth:`end`; attempts
    under way count against the limit too, so a burst of parallel requests cannot slip past
    it. Times are seconds on any clock that does not go back (``time.monotonic``).
    """

    def __init__(self, *, max_clients: int = 100_000) -> None:
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._max_clients = max_clients
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def clear(self) -> None:
        """Forget every client."""
        with self._lock:
            self._clients.clear()

    def begin(self, client: str, *, now: float, limit: int, window: float) -> float:
        """Start an attempt of ``client``: ``0`` if it may go ahead (then call :meth:`end`),
        else the seconds until it may try again (no attempt was started)."""
        with self._lock:
            entry = self._clients.get(client)
            if entry is None:
                entry = self._clients[client] = _Client()
                while len(self._clients) > self._max_clients:
                    self._clients.popitem(last=False)
            self._clients.move_to_end(client)
            while entry.failures and entry.failures[0] <= now - window:
                entry.failures.popleft()
            if len(entry.failures) + entry.under_way < limit:
                entry.under_way += 1
                return 0
            if len(entry.failures) >= limit:
                return max(entry.failures[-limit] + window - now, 1.0)
            return 1.0  # the attempts under way decide; one of them ends soon

    def end(self, client: str, *, now: float, failed: bool) -> None:
        """Finish an attempt :meth:`begin` allowed; a failed one counts from ``now``."""
        with self._lock:
            entry = self._clients.get(client)
            if entry is None:  # forgotten meanwhile to bound the memory
                return
            entry.under_way = max(entry.under_way - 1, 0)
            if failed:
                entry.failures.append(now)


def _address(text: str) -> _Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _key(address: _Address | None, text: str) -> str:
    """How a client is counted: an IPv4 address as itself, an IPv6 address by its /64 (one
    subscriber's whole network, which is one client's to choose addresses from), anything
    else as written."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address or text.strip())[:_MAX_KEY]


def _trusted(address: _Address | None, proxies: Sequence[ProxyNetwork]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(
    peer: str, forwarded_for: str | None, proxies: Sequence[ProxyNetwork]
) -> str:
    """The address a request is counted under.

    The connection's ``peer``, unless it is one of the operator's ``proxies``: then the
    right-most address of ``X-Forwarded-For`` that is not a listed proxy (each proxy appends
    the address it saw, so what lies left of that is the client's to write, never trusted),
    or the left-most when all are proxies. From any other peer the header is ignored. An
    IPv6 client is counted by its /64 network.
    """
    peer_address = _address(peer)
    if not _trusted(peer_address, proxies):
        return _key(peer_address, peer)
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if not _trusted(address, proxies):
            return _key(address, hop)
    return _key(_address(hops[0]), hops[0]) if hops else _key(peer_address, peer)
