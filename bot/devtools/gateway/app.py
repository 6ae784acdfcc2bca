"""The gateway's HTTP surface: routing, the auth/fault middleware, and the create and poll handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.devtools.gateway import control
from bot.devtools.gateway.content import content_route, file_route
from bot.devtools.gateway.injection import MODERATION_MESSAGE, FaultKind, RouteClass
from bot.devtools.gateway.intake import IntakeError, read_create_body
from bot.devtools.gateway.render import openai_created, openai_video, unified_created, unified_query
from bot.devtools.gateway.responses import dashboard, empty, openai_error, raw_body, server_error, task_error
from bot.devtools.gateway.state import STATE, SimState, bearer_key, origin_of, owner_of, poll_task
from bot.devtools.gateway.tasks import Failure, SimTask, Snapshot, TaskFormat
from bot.devtools.gateway.validation import (
    CreateRequest,
    ValidationError,
    check_upstream_openai,
    upstream_refusal,
    validate_openai,
    validate_unified,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 128 * 1024 * 1024
# The gateway writes a full-width dollar sign (U+FF04) here.
QUOTA_MESSAGE = "用户额度不足, 剩余额度: \uff040.000000"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ROUTE_CLASSES = {
    "POST /v1/videos": RouteClass.CREATE,
    "POST /v1/video/create": RouteClass.CREATE,
    "GET /v1/videos/{task_id}": RouteClass.POLL,
    "GET /v1/video/query": RouteClass.POLL,
    "GET /v1/videos/{task_id}/content": RouteClass.CONTENT,
    "GET /files/{name}": RouteClass.CONTENT,
    "GET /v1/models": RouteClass.MODELS,
}
_RESPONSE_FAULTS = (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.HTML_PAGE, FaultKind.RAW_BODY)


def build_app(state: SimState) -> web.Application:
    """Return the aiohttp application serving one simulator."""
    app = web.Application(middlewares=[gateway_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = state
    app.router.add_post("/v1/videos", create_openai)
    app.router.add_get("/v1/videos/{task_id}", poll_openai)
    app.router.add_get("/v1/videos/{task_id}/content", content_route)
    app.router.add_post("/v1/video/create", create_unified)
    app.router.add_get("/v1/video/query", poll_unified)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/files/{name}", file_route)
    control.add_routes(app)
    return app


def route_name(request: web.Request) -> str:
    """Return `METHOD /route/{template}` for a matched request, or `METHOD unmatched`."""
    resource = request.match_info.route.resource
    if request.match_info.http_exception is not None or resource is None:
        return f"{request.method} unmatched"
    method = "GET" if request.method == "HEAD" else request.method
    return f"{method} {resource.canonical}"


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request, then apply the dashboard rule, NoRoute 404s, route faults and token auth."""
    if request.path.startswith("/_sim/"):
        return await handler(request)
    state = request.app[STATE]
    name = route_name(request)
    route_class = _ROUTE_CLASSES.get(name)
    state.stats.record(name, route_class or "other")
    response = await _answer(request, handler, state, route_class)
    state.stats.record_status(response.status)
    return response


async def _answer(
    request: web.Request, handler: Handler, state: SimState, route_class: RouteClass | None
) -> web.StreamResponse:
    path = request.path
    gateway_path = path.startswith(("/v1", "/api"))
    if not gateway_path and not path.startswith("/files/"):
        return dashboard()
    if request.match_info.http_exception is not None:
        return openai_error(404, f"Invalid URL ({request.method} {request.path_qs})", invalid_url=True)
    if route_class is not None:
        delay = state.faults.take(FaultKind.DELAY, route=route_class)
        if delay is not None:
            await state.sleep(delay.seconds)
        for kind in _RESPONSE_FAULTS:
            fault = state.faults.take(kind, route=route_class)
            if fault is None:
                continue
            if kind is FaultKind.RATE_LIMIT:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
                return empty(429, headers)
            if kind is FaultKind.SERVER_ERROR:
                return server_error(fault.status, fault.message)
            if kind is FaultKind.RAW_BODY:
                return await raw_body(request, fault, state.sleep)
            return dashboard()
    if gateway_path and not state.config.accepts_key(bearer_key(request)):
        return openai_error(401, "Invalid token")
    return await handler(request)


async def create_openai(request: web.Request) -> web.Response:
    """Handle `POST /v1/videos` (OpenAI/Sora format)."""
    state = request.app[STATE]
    try:
        body = await read_create_body(request, state.models)
        create = validate_openai(body)
        _check_account(state, create)
        check_upstream_openai(create)
        _check_policy(state, create)
    except (IntakeError, ValidationError) as exc:
        return exc.response
    task = _store(state, TaskFormat.OPENAI, owner_of(request), create)
    ratios = json.dumps({"seconds": int(create.seconds) if create.seconds.isdigit() else 1, "size": 1})
    return web.json_response(openai_created(task), headers={"X-New-Api-Other-Ratios": ratios})


async def create_unified(request: web.Request) -> web.Response:
    """Handle `POST /v1/video/create` (reseller unified format)."""
    state = request.app[STATE]
    try:
        body = await read_create_body(request, state.models)
        create = validate_unified(body, state.config)
        _check_account(state, create)
        _check_policy(state, create)
    except (IntakeError, ValidationError) as exc:
        return exc.response
    task = _store(state, TaskFormat.UNIFIED, owner_of(request), create)
    return web.json_response(unified_created(task))


async def poll_openai(request: web.Request) -> web.Response:
    """Handle `GET /v1/videos/{task_id}`: the stored state as an OpenAI video object."""
    state = request.app[STATE]
    task = poll_task(state, request.match_info["task_id"], owner_of(request))
    if task is None:
        return task_error(400, "task_not_exist", "task_not_exist")
    snapshot = _observe(state, task)
    return web.json_response(openai_video(task, snapshot, state.tasks, state.config, origin_of(request)))


async def poll_unified(request: web.Request) -> web.Response:
    """Handle `GET /v1/video/query?id=`: the stored state in the unified shape."""
    state = request.app[STATE]
    task_id = request.query.get("id", "")
    if not task_id:
        return task_error(400, "invalid_request", "id is required")
    task = poll_task(state, task_id, owner_of(request))
    if task is None:
        return task_error(400, "task_not_exist", "task_not_exist")
    snapshot = _observe(state, task)
    return web.json_response(unified_query(task, snapshot, state.tasks, state.config, origin_of(request)))


async def list_models(request: web.Request) -> web.Response:
    """Handle `GET /v1/models`."""
    state = request.app[STATE]
    data = [
        {
            "id": model,
            "object": "model",
            "created": 1626777600,
            "owned_by": owner_of_model(model),
            "supported_endpoint_types": ["openai-video"],
        }
        for model in state.models
    ]
    return web.json_response({"object": "list", "data": data, "success": True})


def owner_of_model(model: str) -> str:
    """The `owned_by` new-api reports for a model (its vendor)."""
    vendors = (("sora", "openai"), ("veo", "vertex-ai"), ("kling", "kling"), ("doubao", "volcengine"), ("wan", "ali"))
    return next((vendor for prefix, vendor in vendors if model.startswith(prefix)), "custom")


def _observe(state: SimState, task: SimTask) -> Snapshot:
    snapshot = state.tasks.snapshot(task)
    if snapshot.terminal and task.first_poll_terminal_at is None:
        task.first_poll_terminal_at = state.tasks.now()
        log.info("task %s first seen %s by a poll", task.task_id, snapshot.phase)
    return snapshot


def _check_account(state: SimState, create: CreateRequest) -> None:
    if state.faults.take(FaultKind.BALANCE_EXHAUSTED, model=create.model, prompt=create.prompt):
        raise ValidationError(task_error(403, "insufficient_user_quota", QUOTA_MESSAGE))


def _check_policy(state: SimState, create: CreateRequest) -> None:
    marker = state.config.policy_prompt_marker
    refused = bool(marker and marker in create.prompt)
    if refused or state.faults.take(FaultKind.POLICY_REFUSAL, model=create.model, prompt=create.prompt):
        raise upstream_refusal(MODERATION_MESSAGE, "moderation_blocked")


def _doom(state: SimState, create: CreateRequest) -> Failure | None:
    config = state.config
    if config.fail_prompt_marker and config.fail_prompt_marker in create.prompt:
        return Failure(config.fail_reason, "upstream_error")
    if config.moderation_prompt_marker and config.moderation_prompt_marker in create.prompt:
        return Failure(MODERATION_MESSAGE, "moderation_blocked", at_fraction=0.0)
    fault = state.faults.take(FaultKind.FAIL_TASK, model=create.model, prompt=create.prompt)
    if fault is None:
        return None
    return Failure(fault.message or config.fail_reason, fault.code or "upstream_error", fault.at_fraction)


def _store(state: SimState, fmt: TaskFormat, owner: str, create: CreateRequest) -> SimTask:
    lose = state.faults.take(FaultKind.LOSE_TASK, model=create.model, prompt=create.prompt)
    return state.tasks.create(
        fmt,
        owner=owner,
        model=create.model,
        prompt=create.prompt,
        size=create.size,
        seconds=create.seconds,
        run_seconds=state.config.task_seconds_for(create.model),
        failure=_doom(state, create),
        lose_after_polls=lose.after_polls if lose is not None else None,
        no_video=state.faults.take(FaultKind.NO_VIDEO, model=create.model, prompt=create.prompt) is not None,
        detail=create.detail,
    )
