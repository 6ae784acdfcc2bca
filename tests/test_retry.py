"""Retry policy (backoff, cap, jitter, Retry-After, which errors are retried) and the request rate limiter."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from bot.errors import (
    GatewayAuthError,
    GatewayBadResultError,
    GatewayBalanceError,
    GatewayContentPolicyError,
    GatewayError,
    GatewayInvalidRequestError,
    GatewayModelUnavailableError,
    GatewayProtocolError,
    GatewayRateLimitedError,
    GatewayTaskLostError,
    GatewayUnavailableError,
    GatewayUnconfirmedError,
)
from bot.gateway.ratelimit import RateLimiter
from bot.gateway.retry import (
    INITIAL_DELAY_SECONDS,
    MAX_DELAY_SECONDS,
    MAX_RETRY_AFTER_SECONDS,
    backoff_delay,
    should_retry,
)


def top() -> float:
    return 1.0


def bottom() -> float:
    return 0.0


def test_backoff_grows_exponentially_until_the_cap() -> None:
    ceilings = [backoff_delay(attempt, rng=top) for attempt in range(8)]
    assert ceilings[0] == INITIAL_DELAY_SECONDS
    assert ceilings[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert all(later >= earlier for earlier, later in itertools.pairwise(ceilings))
    assert max(ceilings) == MAX_DELAY_SECONDS
    assert backoff_delay(60, rng=top) == MAX_DELAY_SECONDS


def test_jitter_stays_between_half_and_all_of_the_ceiling() -> None:
    rng = random.Random(99)
    for attempt in range(10):
        ceiling = backoff_delay(attempt, rng=top)
        assert backoff_delay(attempt, rng=bottom) == ceiling / 2
        for _ in range(200):
            delay = backoff_delay(attempt, rng=rng.random)
            assert ceiling * 0.5 <= delay <= ceiling


def test_jitter_uses_the_injected_rng() -> None:
    assert backoff_delay(2, rng=lambda: 0.5) == pytest.approx(2.0 * 0.75)


def test_backoff_without_an_error_or_with_a_plain_error() -> None:
    assert backoff_delay(1, None, rng=top) == 1.0
    assert backoff_delay(1, GatewayUnavailableError("502"), rng=top) == 1.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(3.0, 3.0), (0.0, 0.0), (-5.0, 0.0), (MAX_RETRY_AFTER_SECONDS, MAX_RETRY_AFTER_SECONDS), (3_600.0, 60.0)],
)
def test_retry_after_is_honoured_and_capped(retry_after: float, expected: float) -> None:
    error = GatewayRateLimitedError("429", retry_after=retry_after)
    assert backoff_delay(0, error, rng=top) == expected
    assert backoff_delay(7, error, rng=bottom) == expected


def test_rate_limit_without_retry_after_backs_off_normally() -> None:
    error = GatewayRateLimitedError("429")
    assert error.retry_after is None
    assert backoff_delay(3, error, rng=top) == 4.0


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (GatewayRateLimitedError(), True),
        (GatewayUnavailableError(), True),
        (GatewayProtocolError(), True),
        (GatewayBadResultError(), True),
        (GatewayAuthError(), False),
        (GatewayBalanceError(), False),
        (GatewayInvalidRequestError(), False),
        (GatewayContentPolicyError(), False),
        (GatewayModelUnavailableError(), False),
        (GatewayTaskLostError(), False),
        (GatewayUnconfirmedError(), False),
        (GatewayError(), False),
    ],
)
def test_should_retry(error: GatewayError, retry: bool) -> None:
    assert should_retry(error) is retry


class FakeTime:
    """A clock that only the fake sleep moves; sleeping yields to other tasks like the real one.

    Like a real clock, a sleep moves time by at least a microsecond: a float clock at 500 s cannot move by
    the 1e-14 s top-ups the token arithmetic can ask for, and the limiter would wait on it forever.
    """

    def __init__(self) -> None:
        self.now = 500.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += max(seconds, 1e-6)
        await asyncio.sleep(0)


def limiter(time: FakeTime, rate: float, burst: float | None = None) -> RateLimiter:
    return RateLimiter(rate, burst, clock=time.clock, sleep=time.sleep)


@pytest.mark.parametrize(
    ("rate", "burst", "count"), [(20.0, None, 100), (2.0, 5.0, 25), (0.5, 1.0, 6), (10.0, 1.0, 30)]
)
async def test_acquisitions_are_spaced_by_the_rate(rate: float, burst: float | None, count: int) -> None:
    time = FakeTime()
    gate = limiter(time, rate, burst)
    start = time.now
    for _ in range(count):
        await gate.acquire()
    effective_burst = burst if burst is not None else max(1.0, rate)
    needed = (count - effective_burst) / rate
    assert time.now - start >= needed - 1e-6
    assert time.now - start <= needed + 1 / rate


async def test_the_burst_goes_through_without_waiting() -> None:
    time = FakeTime()
    gate = limiter(time, 4.0, 3.0)
    for _ in range(3):
        await gate.acquire()
    assert time.slept == []
    await gate.acquire()
    assert sum(time.slept) == pytest.approx(0.25, abs=1e-5)


async def test_concurrent_acquisitions_share_the_rate() -> None:
    time = FakeTime()
    gate = limiter(time, 5.0, 2.0)
    start = time.now
    granted: list[float] = []

    async def one() -> None:
        await gate.acquire()
        granted.append(time.now)

    await asyncio.gather(*(one() for _ in range(12)))
    assert len(granted) == 12
    assert time.now - start >= (12 - 2) / 5.0 - 1e-6
    # No window of one second lets more than burst + rate requests through.
    for first in granted:
        assert sum(1 for t in granted if first <= t < first + 1.0) <= 2 + 5


async def test_idle_time_refills_only_up_to_the_burst() -> None:
    time = FakeTime()
    gate = limiter(time, 1.0, 2.0)
    await gate.acquire()
    await gate.acquire()
    time.now += 3_600.0
    time.slept.clear()
    await gate.acquire()
    await gate.acquire()
    assert time.slept == []
    await gate.acquire()
    assert sum(time.slept) == pytest.approx(1.0, abs=1e-5)
