"""Discord's JSON error responses (``{"message", "code"[, "errors"]}``) with their real codes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json`` (discord.py compares it verbatim)."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


class ApiError(Exception):
    """An error answer of the API; raise it from a handler."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends."""
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data

    def response(self) -> web.Response:
        """Render as an aiohttp response."""
        return json_response(self.body(), self.status, self.headers)


def field_errors(*items: tuple[str, str, str]) -> dict[str, Any]:
    """Build Discord's nested ``errors`` object from (dotted path, error code, message) triples."""
    root: dict[str, Any] = {}
    for path, code, message in items:
        node = root
        for key in path.split("."):
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return root


def invalid_form(errors: dict[str, Any], message: str = "Invalid Form Body") -> ApiError:
    """400 / 50035 Invalid Form Body."""
    return ApiError(400, 50035, message, errors)


def max_length(path: str, limit: int) -> ApiError:
    """50035 for a string over its maximum length."""
    return invalid_form(field_errors((path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")))


UNAUTHORIZED = (401, 0, "401: Unauthorized")
NOT_FOUND = (404, 0, "404: Not Found")
METHOD_NOT_ALLOWED = (405, 0, "405: Method Not Allowed")
UNKNOWN_APPLICATION = (404, 10002, "Unknown Application")
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_GUILD = (404, 10004, "Unknown Guild")
UNKNOWN_MEMBER = (404, 10007, "Unknown Member")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_USER = (404, 10013, "Unknown User")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
UNKNOWN_COMMAND = (404, 10063, "Unknown application command")
TOO_LARGE = (413, 40005, "Request entity too large")
ALREADY_ACKNOWLEDGED = (400, 40060, "Interaction has already been acknowledged.")
MISSING_ACCESS = (403, 50001, "Missing Access")
CANNOT_EDIT_OTHERS = (403, 50005, "Cannot edit a message authored by another user")
EMPTY_MESSAGE = (400, 50006, "Cannot send an empty message")
CANNOT_DM = (403, 50007, "Cannot send messages to this user")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
INVALID_WEBHOOK_TOKEN = (401, 50027, "Invalid Webhook Token")
THREAD_ARCHIVED = (400, 50083, "Thread is archived")
THREAD_ALREADY_CREATED = (400, 160004, "A thread has already been created for this message")
THREAD_LOCKED = (400, 160005, "Thread is locked")


def err(spec: tuple[int, int, str]) -> ApiError:
    """Make an ApiError from one of the (status, code, message) constants above."""
    return ApiError(*spec)
