"""Video downloads: the gateway's content proxy route and the "CDN" link the unified query hands out."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from bot.devtools.gateway.injection import FaultKind
from bot.devtools.gateway.media import iter_video, limit_bytes, padded_size, result_video, sample_video
from bot.devtools.gateway.render import file_url
from bot.devtools.gateway.responses import reduced_error
from bot.devtools.gateway.state import STATE, SimState, is_gone, origin_of, owner_of
from bot.devtools.gateway.tasks import Phase, SimTask

log = logging.getLogger(__name__)

_EXPIRED_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
)
_MISSING_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)


async def content_route(request: web.Request) -> web.StreamResponse:
    """Serve `GET /v1/videos/{task_id}/content` like the gateway's `VideoProxy`."""
    state = request.app[STATE]
    task = state.tasks.get(request.match_info["task_id"], owner_of(request))
    if task is None or is_gone(task):
        return reduced_error(404, "Task not found")
    snapshot = state.tasks.snapshot(task)
    if snapshot.phase is not Phase.SUCCEEDED:
        return reduced_error(400, f"Task is not completed yet, current status: {snapshot.phase}")
    if task.no_video:
        return reduced_error(502, "Failed to fetch video content")  # VideoProxy with an empty result URL
    if _take(state, FaultKind.JSON_URL, task):
        task.downloads += 1
        return web.json_response({"url": file_url(origin_of(request), task)})
    return await _serve(request, state, task, lambda: reduced_error(502, "Upstream service returned status 403"))


async def file_route(request: web.Request) -> web.StreamResponse:
    """Serve `GET /files/{task_id}.mp4`, the unauthenticated link the unified query returns."""
    state = request.app[STATE]
    name = request.match_info["name"]
    task = state.tasks.get(name.removesuffix(".mp4"))
    if task is None or is_gone(task) or state.tasks.snapshot(task).phase is not Phase.SUCCEEDED:
        return web.Response(status=404, text=_MISSING_XML, content_type="application/xml")
    return await _serve(
        request, state, task, lambda: web.Response(status=403, text=_EXPIRED_XML, content_type="application/xml")
    )


def _take(state: SimState, kind: FaultKind, task: SimTask) -> bool:
    return state.faults.take(kind, model=task.model, prompt=task.prompt) is not None


async def _serve(
    request: web.Request, state: SimState, task: SimTask, expired: Callable[[], web.Response]
) -> web.StreamResponse:
    task.downloads += 1
    if _take(state, FaultKind.EXPIRED_LINK, task):
        return expired()
    base = (
        result_video(state.config.result_video) if state.config.result_video else sample_video(state.config.media_dir)
    )
    oversize = state.faults.take(FaultKind.OVERSIZE, model=task.model, prompt=task.prompt)
    total = padded_size(len(base), oversize.size_bytes if oversize else None)
    cut = state.faults.take(FaultKind.CUT_DOWNLOAD, model=task.model, prompt=task.prompt)
    response = web.StreamResponse(headers={"Cache-Control": "public, max-age=86400"})
    response.content_type = "video/mp4"
    response.content_length = total
    await response.prepare(request)
    chunks = iter_video(base, total)
    if cut is not None:
        chunks = limit_bytes(chunks, cut.after_bytes)
    for chunk in chunks:
        await response.write(chunk)
    if cut is not None:
        log.info("cutting download of %s after %d of %d bytes", task.task_id, cut.after_bytes, total)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
