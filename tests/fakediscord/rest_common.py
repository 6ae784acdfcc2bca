"""REST plumbing shared by all routes: auth, request records, fault injection and rate limits."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import METHOD_NOT_ALLOWED, NOT_FOUND, UNAUTHORIZED, ApiError, err, field_errors, invalid_form
from .multipart import ParsedBody, parse_body
from .ratelimits import RateLimits

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
    major = RateLimits.major(dict(request.match_info))
    limits: dict[str, str] = {}
    try:
        parsed = parse_body(await request.read(), request.headers.get("Content-Type", ""))
        request[BODY_KEY] = parsed
        summary = parsed.summary()
        record.json, record.files = summary["json"], summary["files"]
        if not NO_AUTH.match(sub) and request.headers.get("Authorization") != f"Bot {fake.token}":
            raise err(UNAUTHORIZED)
        fault = fake.faults.take(request.method, sub, has_files=bool(record.files))
        answer_held = fault if fault is not None and fault.kind == "answer_held" else None
        if fault is not None and fault.kind in ("held", "answer_held"):
            if answer_held is None:
                await fault.released.wait()
            fault = None
        refusal = None
        if fault is None:
            refusal, limits = fake.rate_limits.admit(request.method, route, sub, major)
        if fault is not None and fault.kind != "lost":
            record.fault = fault.kind
            response: web.StreamResponse = fault.response(bucket)
        elif refusal is not None:
            response = refusal
        else:
            response = await handler(request)
            if answer_held is not None:
                fake.state.changed.notify()  # carried out: a test may look now, then kill the waiting client
                await answer_held.released.wait()
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
        response.headers.update(limits or fake.rate_limits.headers(request.method, route, major))
    record.status = response.status
    if isinstance(response, web.Response) and response.content_type == "application/json" and response.body:
        with contextlib.suppress(ValueError, TypeError):
            record.response = json.loads(response.body)  # type: ignore[arg-type]
    fake.state.changed.notify()
    return response
