"""REST plumbing shared by all routes: auth, request records, fault injection and X-RateLimit headers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import METHOD_NOT_ALLOWED, NOT_FOUND, UNAUTHORIZED, ApiError, err, field_errors, invalid_form
from .multipart import ParsedBody, parse_body

API_PREFIX = "/api/v10"
FAKE_KEY: web.AppKey[Any] = web.AppKey("fakediscord", object)
BODY_KEY: Any = web.RequestKey("fakediscord.body", object) if hasattr(web, "RequestKey") else "fakediscord.body"
NO_AUTH = re.compile(r"^/(interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+(/.*)?|gateway)$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RequestRecord:
    """One REST request as received, with the status it was answered with."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    json: Any
    files: list[dict[str, Any]]
    at: float
    status: int = 0
    response: Any = None
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<RequestRecord {self.method} {self.path} -> {self.status}>"


class RateLimits:
    """Per-route, per-major-parameter windows producing realistic X-RateLimit-* headers (never enforced)."""

    def __init__(self, limit: int = 50, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    @staticmethod
    def bucket(method: str, route: str) -> str:
        """A stable bucket hash for a route template."""
        return hashlib.sha1(f"{method} {route}".encode()).hexdigest()[:32]

    def headers(self, bucket: str, major: str) -> dict[str, str]:
        """Count this request in its window and return the headers describing that window."""
        now = time.monotonic()
        start, count = self._windows.get((bucket, major), (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        self._windows[(bucket, major)] = (start, count)
        reset_after = max(self.window - (now - start), 0.001)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }


def body_of(request: web.Request) -> ParsedBody:
    """The parsed body of the current request (parsed once by the middleware)."""
    parsed: ParsedBody = request[BODY_KEY]
    return parsed


def json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of the request body; 50035 if it is not an object."""
    data = body_of(request).json
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise invalid_form({"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used."}]})
    return data


def sf(request: web.Request, name: str) -> int:
    """A snowflake path parameter; a malformed one gives 50035 like Discord."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise invalid_form(field_errors((name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')))
    return int(raw)


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter (``true``/``1``)."""
    return request.query.get(name, "").lower() in ("1", "true")


def _major(match_info: dict[str, str]) -> str:
    keys = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id", "interaction_token")
    return "+".join(match_info[k] for k in keys if k in match_info)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record the request, check auth, apply faults, turn ApiError into JSON and add rate-limit headers."""
    if not request.path.startswith(API_PREFIX + "/"):
        return await handler(request)
    fake = request.app[FAKE_KEY]
    sub = request.path[len(API_PREFIX) :]
    resource = request.match_info.route.resource
    route = resource.canonical[len(API_PREFIX) :] if resource is not None else sub
    record = RequestRecord(request.method, sub, route, dict(request.query), None, [], time.monotonic())
    record.headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    fake.requests.append(record)
    bucket = RateLimits.bucket(request.method, route)
    try:
        parsed = parse_body(await request.read(), request.headers.get("Content-Type", ""))
        request[BODY_KEY] = parsed
        summary = parsed.summary()
        record.json, record.files = summary["json"], summary["files"]
        if not NO_AUTH.match(sub) and request.headers.get("Authorization") != f"Bot {fake.token}":
            raise err(UNAUTHORIZED)
        fault = fake.faults.take(request.method, sub)
        if fault is not None and fault.kind != "lost":
            record.fault = fault.kind
            response: web.StreamResponse = fault.response(bucket)
        else:
            response = await handler(request)
            if fault is not None:
                record.fault = "lost"
                response = fault.response(bucket)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPMethodNotAllowed:
        response = err(METHOD_NOT_ALLOWED).response()
    except web.HTTPNotFound:
        response = err(NOT_FOUND).response()
    if response.status != 429:
        response.headers.update(fake.rate_limits.headers(bucket, _major(dict(request.match_info))))
    record.status = response.status
    if isinstance(response, web.Response) and response.content_type == "application/json" and response.body:
        with contextlib.suppress(ValueError, TypeError):
            record.response = json.loads(response.body)  # type: ignore[arg-type]
    fake.state.changed.notify()
    return response
