"""Fault injection: make the next N requests matching method + path answer 429 or 5xx, or wait until let through."""

from __future__ import annotations

import asyncio
import fnmatch
import math
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from .errors import json_response

FaultKind = Literal["rate_limit", "error", "lost", "held", "answer_held"]

HTML_5XX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """One injected fault.

    ``path`` is matched against the request path after ``/api/v10``: a glob (``*`` also spans ``/``,
    e.g. ``/channels/*/messages``) or a compiled regular expression (``fullmatch``).
    ``kind`` is ``rate_limit`` (429), ``error`` (5xx without doing anything) or ``lost`` (the request is
    carried out, but the answer is replaced by a 5xx: a lost response) or ``held`` (the request waits, unanswered,
    until ``released`` is set; then it is carried out as usual) or ``answer_held`` (the request is carried out at
    once, but its answer waits until ``released`` is set: a client killed meanwhile never learns it succeeded).
    """

    method: str
    path: str | re.Pattern[str]
    kind: FaultKind
    times: int = 1
    status: int = 502
    retry_after: float = 0.05
    is_global: bool = False
    html: bool = True
    with_files_only: bool = False  # only requests that upload files (a result's post, not a progress edit)
    hits: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def exhausted(self) -> bool:
        """Whether the fault has fired ``times`` times."""
        return self.hits >= self.times

    def matches(self, method: str, path: str, *, has_files: bool = False) -> bool:
        """Whether a request matches this fault's method and path (and uploads files, if it must)."""
        if self.method not in ("*", method.upper()) or (self.with_files_only and not has_files):
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(path) is not None
        return fnmatch.fnmatchcase(path, self.path)

    def response(self, bucket: str) -> web.Response:
        """The error response this fault answers with."""
        if self.kind == "rate_limit":
            reset = time.time() + self.retry_after
            headers = {
                "Retry-After": str(max(1, math.ceil(self.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{reset:.3f}",
                "X-RateLimit-Reset-After": f"{self.retry_after:.3f}",
                "X-RateLimit-Bucket": bucket,
                "X-RateLimit-Scope": "global" if self.is_global else "user",
                "Via": "1.1 google",
            }
            if self.is_global:
                headers["X-RateLimit-Global"] = "true"
            body: dict[str, object] = {
                "message": "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
            }
            if self.is_global:
                body["code"] = 0
            return json_response(body, 429, headers)
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(
            self.status, "Gateway Timeout"
        )
        if self.html:
            html = HTML_5XX.format(status=self.status, reason=reason)
            return web.Response(status=self.status, text=html, content_type="text/html")
        return json_response({"message": f"{self.status}: {reason}", "code": 0}, self.status)


class FaultInjector:
    """Holds faults in the order they were added; the first matching live fault fires."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Register a fault and return it (its ``hits`` counts how often it fired)."""
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str, *, has_files: bool = False) -> Fault | None:
        """Return and consume the fault that applies to this request, if any."""
        for fault in self.faults:
            if not fault.exhausted and fault.matches(method, path, has_files=has_files):
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        """Remove all faults."""
        self.faults.clear()
