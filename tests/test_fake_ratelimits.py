"""The fake Discord enforces Discord's REST rate limits: per-route buckets per channel, and the global limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import discord
import pytest

from tests.fakediscord import MESSAGE_EDIT, MESSAGES, FakeDiscord, RateLimits

TOKEN = "ratelimit-test-token"
CHANNEL = "/channels/{channel_id}/messages"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def post(limits: RateLimits, channel: str = "1", path: str | None = None) -> dict[str, Any] | None:
    """Count one message create; the 429's body if refused."""
    refused, _ = limits.admit("POST", CHANNEL, path or f"/channels/{channel}/messages", channel)
    return None if refused is None else json.loads(refused.body)  # type: ignore[arg-type]


def test_headers_count_down_and_the_sixth_create_in_five_seconds_is_refused() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock, wall=lambda: 1_000_000.0)
    remaining = []
    for _ in range(5):
        refused, headers = limits.admit("POST", CHANNEL, "/channels/1/messages", "1")
        assert refused is None
        remaining.append(headers["X-RateLimit-Remaining"])
        clock.now += 0.5
    assert remaining == ["4", "3", "2", "1", "0"]
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Bucket"] == RateLimits.bucket(*MESSAGES)
    assert float(headers["X-RateLimit-Reset-After"]) == pytest.approx(3.0)
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(1_000_003.0)

    refused, _ = limits.admit("POST", CHANNEL, "/channels/1/messages", "1")
    assert refused is not None and refused.status == 429
    assert json.loads(refused.body) == {  # type: ignore[arg-type]
        "message": "You are being rate limited.",
        "retry_after": 2.5,
        "global": False,
    }
    assert refused.headers["Retry-After"] == "3"  # whole seconds, rounded up
    assert refused.headers["X-RateLimit-Scope"] == "user" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert "Via" in refused.headers  # without it discord.py takes the 429 for a Cloudflare ban
    assert [(hit.scope, hit.retry_after) for hit in limits.hits] == [("user", 2.5)]


def test_a_bucket_resets_after_its_window() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    for _ in range(5):
        assert post(limits) is None
    assert post(limits) is not None
    clock.now += 5.0
    assert post(limits) is None
    assert limits.headers("POST", CHANNEL, "1")["X-RateLimit-Remaining"] == "4"


def test_each_channel_and_thread_has_its_own_bucket_and_edits_are_counted_apart() -> None:
    limits = RateLimits(clock=Clock())
    for _ in range(5):
        assert post(limits, "1") is None
    assert post(limits, "1") is not None
    assert post(limits, "2") is None  # a thread is a channel of its own
    edit, _ = limits.admit("PATCH", MESSAGE_EDIT[1], "/channels/1/messages/9", "1")
    assert edit is None  # the parent's edits are a bucket of their own
    assert (
        limits.headers(*MESSAGE_EDIT, "1")["X-RateLimit-Bucket"] != limits.headers(*MESSAGES, "1")["X-RateLimit-Bucket"]
    )


def test_fifty_requests_a_second_globally_but_interactions_and_webhooks_are_not_counted() -> None:
    clock = Clock()
    limits = RateLimits(clock=clock)
    for channel in range(50):
        assert post(limits, str(channel)) is None
    refused, _ = limits.admit("POST", CHANNEL, "/channels/99/messages", "99")
    assert refused is not None
    assert json.loads(refused.body)["global"] is True  # type: ignore[arg-type]
    assert refused.headers["X-RateLimit-Global"] == "true" and refused.headers["X-RateLimit-Scope"] == "global"
    callback = "/interactions/{interaction_id}/{interaction_token}/callback"
    assert limits.admit("POST", callback, "/interactions/1/t/callback", "1+t")[0] is None
    assert limits.admit("POST", "/webhooks/{webhook_id}/{webhook_token}", "/webhooks/1/t", "1+t")[0] is None
    clock.now += 1.0
    assert post(limits, "99") is None


def test_limits_can_be_tightened_loosened_and_switched_off() -> None:
    limits = RateLimits(clock=Clock())
    limits.set_limit(*MESSAGES, limit=1, window=60.0)
    assert post(limits) is None
    assert post(limits) is not None
    limits.set_limit(*MESSAGES, limit=10, window=60.0)
    assert post(limits) is None  # the open window takes the new limit
    limits.enabled = False
    for _ in range(20):
        assert post(limits) is None


# --- through HTTP and a real discord.py client --------------------------------------------------------

pytestmark = pytest.mark.fake(token=TOKEN)


async def test_the_rest_api_refuses_what_is_over_the_limit_without_carrying_it_out(fake: FakeDiscord) -> None:
    channel = fake.channel().id
    statuses = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as session:
        for number in range(6):
            async with session.post(
                f"{fake.rest_base}/channels/{channel}/messages", json={"content": f"{number}"}
            ) as r:
                statuses.append((r.status, r.headers.get("X-RateLimit-Remaining")))
                body = await r.json()
    assert statuses == [(200, "4"), (200, "3"), (200, "2"), (200, "1"), (200, "0"), (429, "0")]
    assert body["global"] is False and 0 < body["retry_after"] <= 5
    assert [m.content for m in fake.messages(channel)] == ["0", "1", "2", "3", "4"]


async def test_discord_py_waits_on_an_exhausted_bucket_and_sees_no_429(
    fake: FakeDiscord, discord_targets: None
) -> None:
    fake.rate_limits.set_limit(*MESSAGES, limit=2, window=0.3)  # tightened, so the test does not wait 5 s
    client = discord.Client(intents=discord.Intents.none())
    await client.login(TOKEN)
    try:
        channel = client.get_partial_messageable(fake.channel().id)
        await asyncio.gather(*(channel.send(f"message {n}") for n in range(7)))
    finally:
        await client.close()
    assert len(fake.messages(fake.channel().id)) == 7
    assert fake.rate_limits.hits == []
