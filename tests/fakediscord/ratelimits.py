"""Discord's REST rate limits, enforced: per-route buckets per top-level resource, and the global limit.

As Discord documents them (topics/rate-limits): every answered request carries ``X-RateLimit-Limit``,
``-Remaining``, ``-Reset`` (epoch seconds), ``-Reset-After`` and ``-Bucket`` (one hash per route, the same for
every channel); a bucket is counted per top-level resource (``channel_id``, ``guild_id``, ``webhook_id`` +
token), so each thread, being a channel of its own, has its own buckets. Past the limit the request is not
carried out and answers 429 with ``{"message", "retry_after", "global"}``, ``Retry-After`` (whole seconds,
rounded up) and ``X-RateLimit-Scope``. The global limit (50 requests per second per bot) leaves out
interaction callbacks and webhooks (interaction follow-ups are webhooks), as Discord does.

The numbers Discord does not publish are the ones bots observe: 5 message creates and 5 edits per 5 s per
channel. A test tightens or loosens them through ``fake.rate_limits`` (``set_limit``, ``global_limit``,
``enabled``); the clock is injectable.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .errors import json_response

MESSAGES: tuple[str, str] = ("POST", "/channels/{channel_id}/messages")
MESSAGE_EDIT: tuple[str, str] = ("PATCH", "/channels/{channel_id}/messages/{message_id}")
MESSAGE_DELETE: tuple[str, str] = ("DELETE", "/channels/{channel_id}/messages/{message_id}")
GLOBAL_EXEMPT = re.compile(r"^/(interactions|webhooks)/")
MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id", "interaction_token")


@dataclass(frozen=True)
class RouteLimit:
    """``limit`` requests per ``window`` seconds."""

    limit: int
    window: float


DEFAULT_ROUTE_LIMITS: dict[tuple[str, str], RouteLimit] = {
    MESSAGES: RouteLimit(5, 5.0),
    MESSAGE_EDIT: RouteLimit(5, 5.0),
    MESSAGE_DELETE: RouteLimit(5, 1.0),  # Discord gives deletes a separate, higher limit
}
DEFAULT_LIMIT = RouteLimit(50, 1.0)  # every other route: generous, and bound by the global limit anyway


@dataclass
class _Window:
    limit: int
    resets_at: float
    used: int = 0


@dataclass(frozen=True)
class RateLimitHit:
    """One request the fake refused with a 429 of its own (injected faults are not counted here)."""

    method: str
    path: str
    bucket: str
    scope: str
    retry_after: float
    at: float


class RateLimits:
    """Counts requests in fixed windows per (bucket, top-level resource) and globally; refuses what is over."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.enabled = True
        self.routes: dict[tuple[str, str], RouteLimit] = dict(DEFAULT_ROUTE_LIMITS)
        self.default = DEFAULT_LIMIT
        self.global_limit = RouteLimit(50, 1.0)
        self.hits: list[RateLimitHit] = []
        self._clock = clock
        self._wall = wall
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None

    @staticmethod
    def bucket(method: str, route: str) -> str:
        """The ``X-RateLimit-Bucket`` of a route template (the same for every channel)."""
        return hashlib.sha1(f"{method} {route}".encode()).hexdigest()[:32]

    @staticmethod
    def major(match_info: dict[str, str]) -> str:
        """The top-level resource of a request (its channel, guild or webhook), which buckets are counted by."""
        return "+".join(match_info[k] for k in MAJOR_PARAMETERS if k in match_info)

    def limit_for(self, method: str, route: str) -> RouteLimit:
        """The limit of a route template."""
        return self.routes.get((method, route), self.default)

    def set_limit(self, method: str, route: str, limit: int, window: float) -> None:
        """Tighten or loosen one route (e.g. ``"PATCH", "/channels/{channel_id}/messages/{message_id}"``).

        Windows already open keep their end; the new limit counts from now on.
        """
        self.routes[(method, route)] = RouteLimit(limit, window)
        bucket = self.bucket(method, route)
        for (key, _major), open_window in self._windows.items():
            if key == bucket:
                open_window.limit = limit

    def exhaust(self, method: str, route: str, major: str, seconds: float) -> None:
        """Use up a bucket of one resource for ``seconds`` (as other traffic on the same token would)."""
        limit = self.limit_for(method, route).limit
        self._windows[(self.bucket(method, route), major)] = _Window(limit, self._clock() + seconds, used=limit)

    def admit(self, method: str, route: str, path: str, major: str) -> tuple[web.Response | None, dict[str, str]]:
        """Count a request: the 429 that refuses it (then it is not carried out), or None and its headers.

        Like Discord's, the headers describe the bucket as this request found it, however long the answer takes.
        """
        if not self.enabled:
            return None, self.headers(method, route, major)
        now = self._clock()
        bucket = self.bucket(method, route)
        counts_globally = GLOBAL_EXEMPT.match(path) is None
        if counts_globally:
            glob = self._global_window(now)
            if glob.used >= glob.limit:
                return self._refuse(method, path, bucket, "global", glob.resets_at - now, None), {}
        window = self._window(method, route, major, now)
        if window.used >= window.limit:
            return self._refuse(method, path, bucket, "user", window.resets_at - now, window), {}
        window.used += 1
        if counts_globally:
            self._global_window(now).used += 1
        return None, self._bucket_headers(bucket, window, now)

    def headers(self, method: str, route: str, major: str) -> dict[str, str]:
        """The X-RateLimit-* headers of a route's bucket as it stands now (without counting anything)."""
        now = self._clock()
        window = self._window(method, route, major, now)
        return self._bucket_headers(self.bucket(method, route), window, now)

    def _window(self, method: str, route: str, major: str, now: float) -> _Window:
        key = (self.bucket(method, route), major)
        window = self._windows.get(key)
        if window is None or now >= window.resets_at:
            rule = self.limit_for(method, route)
            window = self._windows[key] = _Window(rule.limit, now + rule.window)
        return window

    def _global_window(self, now: float) -> _Window:
        if self._global is None or now >= self._global.resets_at:
            self._global = _Window(self.global_limit.limit, now + self.global_limit.window)
        return self._global

    def _bucket_headers(self, bucket: str, window: _Window, now: float) -> dict[str, str]:
        # Rounded up to the millisecond: a client that sleeps Reset-After must never wake before the reset.
        reset_after = max(math.ceil((window.resets_at - now) * 1000) / 1000, 0.001)
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(window.limit - window.used, 0)),
            "X-RateLimit-Reset": f"{self._wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    def _refuse(
        self, method: str, path: str, bucket: str, scope: str, wait: float, window: _Window | None
    ) -> web.Response:
        retry_after = max(math.ceil(wait * 1000) / 1000, 0.001)
        self.hits.append(RateLimitHit(method, path, bucket, scope, retry_after, self._clock()))
        is_global = scope == "global"
        # discord.py takes a 429 without a Via header for a Cloudflare ban; Discord's own 429s carry one.
        headers = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": scope, "Via": "1.1 google"}
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            assert window is not None
            headers.update(self._bucket_headers(bucket, window, self._clock()))
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return json_response(body, 429, headers)
