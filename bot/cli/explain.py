"""What a failed gateway call means for the operator at the terminal: which mistake, what to do, which exit code.

Members are told "the video service is unavailable"; the operator needs to know whether nothing listens at the
address, the address serves a web page, or it has a path prefix the gateway does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import aiohttp

from bot.errors import (
    ExitCode,
    GatewayAuthError,
    GatewayError,
    GatewayProtocolError,
    GatewayUnavailableError,
    GatewayWebPageError,
)

ROOT_ADVICE = "GATEWAY_BASE_URL is the gateway's root, without /v1"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One line for the operator and the exit code it calls for."""

    text: str
    code: ExitCode


def diagnose(error: GatewayError, base_url: str) -> Diagnosis:
    """Say what the gateway's failure to answer as the API means, in the operator's terms."""
    parts = urlsplit(base_url)
    address = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if isinstance(error, GatewayAuthError):
        return Diagnosis(
            f"the gateway rejected GATEWAY_API_KEY ({error.detail or error.user_message}): "
            "check the key in the gateway's dashboard",
            ExitCode.USAGE,
        )
    if isinstance(error, GatewayWebPageError):
        return Diagnosis(
            f"{base_url} answered with a web page instead of the API (a dashboard or another site): {ROOT_ADVICE}, "
            "such as http://HOST:PORT",
            ExitCode.USAGE,
        )
    if error.status == HTTPStatus.NOT_FOUND and "invalid url" in error.detail.lower():
        root = f"{parts.scheme}://{parts.netloc}"
        return Diagnosis(
            f'the gateway answered "Invalid URL": it has no route under {base_url}/v1; the path '
            f"{parts.path or '/'} is not part of its address. {ROOT_ADVICE}: try {root}",
            ExitCode.USAGE,
        )
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientConnectorDNSError):
        return Diagnosis(
            f"the host {parts.hostname} of GATEWAY_BASE_URL cannot be resolved: check its spelling and the DNS",
            ExitCode.UNREACHABLE,
        )
    if isinstance(cause, aiohttp.ClientConnectorError):
        reason = cause.os_error.strerror or str(cause.os_error)
        if isinstance(cause.os_error, ConnectionRefusedError):
            reason = "connection refused"
        return Diagnosis(
            f"{reason} at {address}: nothing answers there; check that the gateway runs and that "
            "GATEWAY_BASE_URL's host and port are right",
            ExitCode.UNREACHABLE,
        )
    if isinstance(cause, TimeoutError):
        return Diagnosis(f"no answer from {address} in time: {error.detail}", ExitCode.UNREACHABLE)
    if isinstance(error, GatewayProtocolError) and error.status is not None and error.status < 500:
        return Diagnosis(
            f"the gateway did not answer as the API does ({error.detail}): check GATEWAY_BASE_URL", ExitCode.USAGE
        )
    if isinstance(error, GatewayUnavailableError):
        return Diagnosis(
            f"the gateway at {address} is failing: {error.detail or error.user_message}", ExitCode.UNREACHABLE
        )
    return Diagnosis(f"the gateway refused: {error.detail or error.user_message}", ExitCode.USAGE)
