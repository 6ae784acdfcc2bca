"""The gateway's answer shapes: OpenAI-shape errors, task-shape errors, the HTML dashboard and proxy pages."""

from __future__ import annotations

import json
import logging
import secrets
import string
from datetime import UTC, datetime

from aiohttp import web

from bot.devtools.gateway.clock import Sleep
from bot.devtools.gateway.injection import FaultSpec

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
_ALNUM = string.ascii_letters + string.digits

DASHBOARD_HTML = """<!doctype html>
<html lang="zh">
  <head>
    <meta charset="UTF-8" />
    <link rel="icon" href="/logo.png" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <meta name="description" content="OpenAI API aggregation and key management" />
    <title>New API</title>
  </head>
  <body>
    <noscript>You need to enable JavaScript to run this app.</noscript>
    <div id="root"></div>
  </body>
</html>
"""

_PROXY_PAGE = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>nginx</center>
</body>
</html>
"""

_PROXY_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


def new_request_id() -> str:
    """Return a request id in the gateway's style: a UTC timestamp followed by random characters."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    return stamp + "".join(secrets.choice(_ALNUM) for _ in range(8))


def openai_error(
    status: int,
    message: str,
    *,
    error_type: str = "new_api_error",
    code: str = "",
    invalid_url: bool = False,
) -> web.Response:
    """Return the middleware's OpenAI-shape error; `invalid_url` gives the 404 NoRoute variant."""
    request_id = new_request_id()
    error: dict[str, object]
    if invalid_url:
        error = {"message": message, "type": "invalid_request_error", "param": "", "code": ""}
    else:
        error = {"message": f"{message} (request id: {request_id})", "type": error_type, "code": code}
    return web.json_response({"error": error}, status=status, headers={REQUEST_ID_HEADER: request_id})


def task_error(status: int, code: str, message: str) -> web.Response:
    """Return the task relay's error shape `{"code","message","data":null}`."""
    body = {"code": code, "message": message, "data": None}
    return web.json_response(body, status=status, headers={REQUEST_ID_HEADER: new_request_id()})


def reduced_error(status: int, message: str) -> web.Response:
    """Return the content route's reduced OpenAI shape (no `code`)."""
    return web.json_response({"error": {"message": message, "type": "new_api_error"}}, status=status)


def upstream_error_body(message: str, code: str, error_type: str = "invalid_request_error") -> str:
    """Return an upstream OpenAI error body as the string the gateway embeds in `fail_to_fetch_task`."""
    return json.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def dashboard() -> web.Response:
    """Return the 200 HTML single-page app a wrong base URL lands on."""
    return web.Response(text=DASHBOARD_HTML, content_type="text/html", charset="utf-8")


def server_error(status: int, message: str = "") -> web.Response:
    """Return a 5xx the way it usually reaches clients: an nginx page for 502/503/504, JSON otherwise."""
    if status in _PROXY_REASONS and not message:
        page = _PROXY_PAGE.format(status=status, reason=_PROXY_REASONS[status])
        return web.Response(status=status, text=page, content_type="text/html")
    return openai_error(status, message or "internal server error")


async def raw_body(request: web.Request, fault: FaultSpec, sleep: Sleep) -> web.StreamResponse:
    """Send a raw_body fault's body as given; chunked, in pieces `fault.seconds` apart, when it has a chunk size."""
    body = fault.body.encode()
    if not fault.chunk_bytes:
        return web.Response(status=fault.status, body=body, content_type=fault.content_type)
    response = web.StreamResponse(status=fault.status)
    response.content_type = fault.content_type
    response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(body), fault.chunk_bytes):
        if start:
            await sleep(fault.seconds)
        await response.write(body[start : start + fault.chunk_bytes])
    await response.write_eof()
    return response


def empty(status: int, headers: dict[str, str] | None = None) -> web.Response:
    """Return a response with no body at all (the IP rate limiter's 429)."""
    return web.Response(status=status, body=b"", headers=headers)
