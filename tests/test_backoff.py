"""The one backoff rule: the gateway's retries, the poller's poll retries and delivery retries all follow it."""

from __future__ import annotations

import random

import pytest

from bot.domain import Backoff
from bot.errors import GatewayUnavailableError
from bot.gateway import retry


def test_the_wait_doubles_up_to_the_cap() -> None:
    policy = Backoff(first=5.0, cap=300.0)
    assert [policy.delay(attempt) for attempt in range(8)] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_without_jitter_no_randomness_is_drawn() -> None:
    def never() -> float:
        raise AssertionError("drew a random number")

    assert Backoff(first=1.0, cap=8.0).delay(2, rng=never) == 4.0


def test_jitter_draws_the_given_share_of_each_wait() -> None:
    policy = Backoff(first=1.0, cap=8.0, jitter=0.25)
    assert policy.delay(3, rng=lambda: 1.0) == 8.0
    assert policy.delay(3, rng=lambda: 0.0) == 6.0
    draw = random.Random(7)
    assert all(6.0 <= policy.delay(3, rng=draw.random) <= 8.0 for _ in range(200))


def test_huge_attempt_counts_stay_at_the_cap() -> None:
    assert Backoff(first=0.5, cap=8.0).delay(100_000) == 8.0


@pytest.mark.parametrize("attempt", range(6))
def test_the_gateway_retry_is_this_policy(attempt: int) -> None:
    error = GatewayUnavailableError("502")
    assert retry.backoff_delay(attempt, error, rng=lambda: 0.3) == retry.BACKOFF.delay(attempt, rng=lambda: 0.3)
