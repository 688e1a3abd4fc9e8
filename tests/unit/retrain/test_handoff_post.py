"""The hand-off's POST on its own: signed, retried after a bounded backoff on 5xx answers
and unreachable receivers, never after a refusal, never following a redirect."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.retrain.handoff import MAX_BACKOFF_S, post_signed, sign
from tests.receiver import closed_port_url, receiver

SECRET = "a shared secret of the hand-off, long enough"


def test_the_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"job_id":1}'
    assert sign(body, SECRET) == "sha256=" + hmac.new(SECRET.encode(), body,
                                                      hashlib.sha256).hexdigest()
    assert sign(body + b" ", SECRET) != sign(body, SECRET)


@pytest.mark.parametrize(("backoff", "waits"), [
    (1.0, [1.0, 2.0, 4.0]), (20.0, [20.0, MAX_BACKOFF_S, MAX_BACKOFF_S]), (0.0, [0.0] * 3)])
def test_a_failing_receiver_is_retried_after_a_bounded_backoff(
        backoff: float, waits: list[float]) -> None:
    slept: list[float] = []
    with receiver([502]) as hook:
        delivery = post_signed(url=hook.url, body=b"{}", secret=SECRET, job_id=7, timeout=5,
                               attempts=4, backoff_s=backoff, sleep=slept.append)
    assert slept == waits
    assert len(hook.received) == 4
    assert (delivery.delivered, delivery.status, delivery.attempts) == (False, 502, 4)
    assert delivery.error == ("not delivered after 4 attempts: the receiver answered "
                              "HTTP 502 Bad Gateway")


@pytest.mark.parametrize("status", [301, 400, 401, 404])
def test_a_refusal_or_a_redirect_is_final(status: int) -> None:
    slept: list[float] = []
    with receiver([status, 200]) as hook:
        delivery = post_signed(url=hook.url, body=b"{}", secret=SECRET, job_id=7, timeout=5,
                               attempts=3, sleep=slept.append)
    assert (delivery.delivered, delivery.status, delivery.attempts, slept) == (
        False, status, 1, [])
    assert len(hook.received) == 1


def test_an_unreachable_receiver_is_tried_each_time() -> None:
    tried: list[int] = []
    delivery = post_signed(url=closed_port_url(), body=b"{}", secret=SECRET, job_id=7,
                           timeout=5, attempts=2, backoff_s=0, before_attempt=tried.append)
    assert (delivery.delivered, delivery.status, delivery.attempts, tried) == (
        False, None, 2, [1, 2])
    assert "cannot be reached" in delivery.error


@pytest.mark.parametrize(("statuses", "flag", "delivered"), [
    ([504, 409], True, True), ([504, 409], False, False), ([409, 200], True, False)])
def test_a_conflict_after_a_lost_answer_means_an_earlier_attempt_got_through(
        statuses: list[int], flag: bool, delivered: bool) -> None:
    with receiver(statuses) as hook:
        delivery = post_signed(url=hook.url, body=b"{}", secret=SECRET, job_id=7, timeout=5,
                               attempts=3, backoff_s=0, conflict_is_delivered=flag)
    assert (delivery.delivered, delivery.status) == (delivered, 409)
    assert delivery.error == ("" if delivered else
                              f"not delivered after {delivery.attempts} attempt"
                              f"{'s' * (delivery.attempts != 1)}: the receiver answered "
                              "HTTP 409 Conflict")
