"""How gateway calls are retried: bounded, capped, jittered, and never for a submit."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Final

from bot.domain import Backoff
from bot.errors import GatewayError, GatewayRateLimitedError

MAX_RETRIES: Final = 3
INITIAL_DELAY_SECONDS: Final = 0.5
MAX_DELAY_SECONDS: Final = 8.0
MAX_RETRY_AFTER_SECONDS: Final = 60.0
# Jitter keeps a crowd of clients that failed together from retrying together.
BACKOFF: Final = Backoff(first=INITIAL_DELAY_SECONDS, cap=MAX_DELAY_SECONDS, jitter=0.5)


def should_retry(error: GatewayError) -> bool:
    """Whether another attempt may succeed: rate limits, outages and cut downloads, not refusals."""
    return error.retryable


def backoff_delay(attempt: int, error: GatewayError | None = None, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): exponential, capped, with jitter.

    A Retry-After from the gateway is honoured up to MAX_RETRY_AFTER_SECONDS.
    """
    if isinstance(error, GatewayRateLimitedError) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
    return BACKOFF.delay(attempt, rng)
