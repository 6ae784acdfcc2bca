"""GatewayClient: submit, poll and list models over one injected aiohttp session."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import aiohttp

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, SubmitResult, TaskSnapshot, WireFormat
from bot.errors import (
    GatewayAcceptedUnreadableError,
    GatewayError,
    GatewayProtocolError,
    GatewayUnavailableError,
    GatewayUnconfirmedError,
)
from bot.gateway.answers import decode_json, read_body
from bot.gateway.error_answers import Stage, error_from_response, is_html
from bot.gateway.formats import codec_for
from bot.gateway.ratelimit import RateLimiter
from bot.gateway.retry import MAX_RETRIES, backoff_delay, should_retry

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-call time limits, in seconds."""

    submit: float = 120.0  # a create with reference images can take a while to be accepted upstream
    poll: float = 20.0
    connect: float = 10.0
    download_read: float = 60.0  # longest silence while streaming a result


@dataclass(frozen=True, slots=True)
class Response:
    """A gateway answer read in full (small JSON bodies only)."""

    status: int
    content_type: str
    headers: Mapping[str, str]
    body: bytes


class GatewayClient:
    """Speaks both wire formats to one gateway; the session is the caller's to open and close."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        rate_limiter: RateLimiter | None = None,
        timeouts: Timeouts = Timeouts(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._limiter = rate_limiter
        self.timeouts = timeouts
        self._sleep = sleep
        self._rng = rng
        self.last_answer_at: float | None = None  # monotonic time of the last answer that was the API's

    def __repr__(self) -> str:
        return f"GatewayClient(base_url={self.base_url!r})"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The Authorization header; only ever sent to the gateway itself."""
        return {"Authorization": f"Bearer {self._api_key}"}

    def owns(self, url: str) -> bool:
        """Whether ``url`` points at the gateway (so the key may be sent with it)."""
        return url == self.base_url or url.startswith(self.base_url + "/")

    async def submit(self, request: GenerationRequest, model: ModelSpec) -> SubmitResult:
        """Create a task. Never retried: a create that went unanswered may already be charged."""
        codec = codec_for(model.wire_format)
        body = codec.build_create(request, model)
        url = self.base_url + codec.create_path()
        await self._throttle()
        try:
            response = await self._send("POST", url, json_body=body, limit_seconds=self.timeouts.submit)
        except GatewayProtocolError as exc:
            if exc.status == HTTPStatus.OK:
                raise _accepted_unreadable(exc) from exc
            raise
        except GatewayUnavailableError as exc:
            if not isinstance(exc.__cause__, aiohttp.ClientConnectorError):
                # The request left and no answer came back: the gateway may hold (and bill) a task we cannot see.
                # The caller logs it under its job id; the prompt is never logged (it outlives /video forget).
                raise GatewayUnconfirmedError(exc.detail) from exc
            raise
        if response.status != 200 or is_html(response.content_type, response.body):
            raise error_from_response(
                response.status, response.body, response.content_type, response.headers, stage=Stage.SUBMIT
            )
        try:
            payload = await asyncio.to_thread(_decode, response)
        except GatewayProtocolError as exc:
            raise _accepted_unreadable(exc) from exc
        result = codec.parse_submit(payload)
        log.info("Gateway accepted a %s job as task %s", model.name, result.task_id)
        return result

    async def fetch(self, task_id: str, wire_format: WireFormat) -> TaskSnapshot:
        """Poll a task, retrying rate limits and outages with backoff."""
        codec = codec_for(wire_format)
        path, params = codec.query(task_id)
        response = await self._get_json(self.base_url + path, params, stage=Stage.POLL)
        return codec.parse_snapshot(await asyncio.to_thread(_decode, response))

    async def list_models(self) -> list[str]:
        """The model ids the gateway serves to this key (GET /v1/models)."""
        response = await self._get_json(self.base_url + "/v1/models", {}, stage=Stage.POLL)
        payload = await asyncio.to_thread(_decode, response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list):
            raise GatewayProtocolError("GET /v1/models did not return a list of models", status=response.status)
        return [str(item["id"]) for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]

    async def _get_json(self, url: str, params: Mapping[str, str], *, stage: Stage) -> Response:
        async def attempt() -> Response:
            response = await self._send("GET", url, params=params, limit_seconds=self.timeouts.poll)
            if response.status != 200 or is_html(response.content_type, response.body):
                raise error_from_response(
                    response.status, response.body, response.content_type, response.headers, stage=stage
                )
            return response

        return await self.with_retries(attempt, f"GET {url}")

    async def with_retries(self, attempt: Callable[[], Awaitable[_T]], what: str) -> _T:
        """Run ``attempt`` until it succeeds, fails for good, or MAX_RETRIES retries are spent."""
        for number in range(MAX_RETRIES + 1):
            await self._throttle()
            try:
                return await attempt()
            except GatewayError as exc:
                if not should_retry(exc) or number == MAX_RETRIES:
                    raise
                delay = backoff_delay(number, exc, self._rng)
                log.warning("%s failed (%s); retry %d in %.1fs", what, exc, number + 1, delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _throttle(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        limit_seconds: float,
    ) -> Response:
        client_timeout = aiohttp.ClientTimeout(total=limit_seconds, connect=self.timeouts.connect)
        try:
            async with self._session.request(
                method, url, json=json_body, params=params, headers=self.auth_headers, timeout=client_timeout
            ) as resp:
                body = await read_body(resp)
                if resp.status < 500 and not is_html(resp.content_type, body):
                    self.last_answer_at = time.monotonic()
                return Response(resp.status, resp.content_type, resp.headers, body)
        except TimeoutError as exc:
            raise GatewayUnavailableError(f"{method} {url}: no answer within {limit_seconds:g}s") from exc
        except aiohttp.ClientError as exc:
            raise GatewayUnavailableError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def _decode(response: Response) -> Any:
    """The answer's JSON (run in a thread: a large answer must not hold up the event loop)."""
    try:
        return decode_json(response.body)
    except ValueError as exc:
        raise GatewayProtocolError(
            f"expected JSON, got {response.content_type or 'no content type'} ({len(response.body)} bytes): {exc}",
            status=response.status,
        ) from exc


def _accepted_unreadable(exc: GatewayProtocolError) -> GatewayAcceptedUnreadableError:
    # A 200 means the gateway took the job: a task may run, and be billed, though its answer cannot be read.
    return GatewayAcceptedUnreadableError(f"submit answered 200 unreadably: {exc.detail}", status=exc.status)
