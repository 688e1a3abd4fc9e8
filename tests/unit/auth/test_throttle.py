"""The per-client limit on failed sign-ins, and which address is the client behind proxies."""

from __future__ import annotations

import ipaddress

import pytest

from services.auth.throttle import ClientFailures, client_address

LIMIT, WINDOW = 3, 300.0


def _fail(failures: ClientFailures, client: str, now: float) -> None:
    assert failures.begin(client, now=now, limit=LIMIT, window=WINDOW) == 0
    failures.end(client, now=now, failed=True)


def test_a_client_is_refused_after_the_limit_until_its_oldest_failure_leaves_the_window(
) -> None:
    failures = ClientFailures()
    for at in (0.0, 10.0, 20.0):
        _fail(failures, "203.0.113.5", at)
    assert failures.begin("203.0.113.5", now=30.0, limit=LIMIT, window=WINDOW) == 270.0
    assert failures.begin("203.0.113.5", now=299.0, limit=LIMIT, window=WINDOW) == 1.0
    # At 300 s the first failure has left the window: one more attempt may be made.
    assert failures.begin("203.0.113.5", now=300.0, limit=LIMIT, window=WINDOW) == 0
    failures.end("203.0.113.5", now=300.0, failed=True)
    assert failures.begin("203.0.113.5", now=301.0, limit=LIMIT, window=WINDOW) == 9.0


def test_other_clients_are_not_affected() -> None:
    failures = ClientFailures()
    for at in (0.0, 1.0, 2.0):
        _fail(failures, "203.0.113.5", at)
    assert failures.begin("203.0.113.6", now=3.0, limit=LIMIT, window=WINDOW) == 0


def test_a_successful_attempt_neither_counts_nor_forgives() -> None:
    failures = ClientFailures()
    _fail(failures, "a", 0.0)
    _fail(failures, "a", 1.0)
    assert failures.begin("a", now=2.0, limit=LIMIT, window=WINDOW) == 0
    failures.end("a", now=2.0, failed=False)
    assert failures.begin("a", now=3.0, limit=LIMIT, window=WINDOW) == 0
    failures.end("a", now=3.0, failed=True)
    assert failures.begin("a", now=4.0, limit=LIMIT, window=WINDOW) > 0


def test_attempts_under_way_count_so_a_burst_cannot_pass_the_limit() -> None:
    failures = ClientFailures()
    # Three attempts begun at once, none finished: the fourth must wait for one of them.
    for _ in range(LIMIT):
        assert failures.begin("a", now=0.0, limit=LIMIT, window=WINDOW) == 0
    assert failures.begin("a", now=0.0, limit=LIMIT, window=WINDOW) > 0
    failures.end("a", now=0.0, failed=False)
    assert failures.begin("a", now=0.0, limit=LIMIT, window=WINDOW) == 0


def test_memory_is_bounded_by_forgetting_the_oldest_clients() -> None:
    failures = ClientFailures(max_clients=2)
    _fail(failures, "a", 0.0)
    _fail(failures, "b", 1.0)
    _fail(failures, "c", 2.0)
    assert len(failures) == 2
    assert failures.begin("c", now=3.0, limit=1, window=WINDOW) > 0


PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.1/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # Not from a listed proxy: the header is anybody's to write, so it is ignored.
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),
        ("198.51.100.7", None, "198.51.100.7"),
        # From a listed proxy: the right-most address that is not a listed proxy.
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.1.2.3", "203.0.113.5"),
        ("192.0.2.1", "6.6.6.6,203.0.113.5 , 192.0.2.1", "203.0.113.5"),
        # An IPv6 client is counted by its /64: it may pick any address in it.
        ("10.0.0.2", "2001:db8::7", "2001:db8::/64"),
        ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),
        ("10.0.0.2", "203.0.113.5:4711", "203.0.113.5:4711"),  # not an address: itself
        # A listed proxy that forwards nothing, or only proxies: the left-most it names.
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.9.9.9, 10.1.2.3", "10.9.9.9"),
        ("::ffff:10.0.0.2", "203.0.113.5", "203.0.113.5"),  # IPv4 seen through IPv6
        ("testclient", "203.0.113.5", "testclient"),
    ],
)
def test_the_client_address(peer: str, forwarded: str | None, client: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_listed_proxies_the_peer_is_the_client() -> None:
    assert client_address("10.0.0.2", "203.0.113.5", ()) == "10.0.0.2"
