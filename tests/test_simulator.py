"""Tests of the gateway simulator (bot.devtools.gateway), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import struct
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devtools.gateway import (
    FaultKind,
    FaultSpec,
    ManualClock,
    ProgressStyle,
    RouteClass,
    Simulator,
    SimulatorConfig,
)
from bot.devtools.gateway.__main__ import config_from_args, parse_args
from bot.devtools.gateway.config import DEFAULT_MODELS
from bot.devtools.gateway.control import ENDPOINTS
from bot.devtools.gateway.media import free_box_header, has_ftyp, iter_video, padded_size, sample_video
from bot.devtools.gateway.tasks import Phase, Schedule, SimTask, TaskFormat, running_progress
from bot.media.ffmpeg import Encoder

TASK_ID = re.compile(r"^task_[0-9a-zA-Z]{32}$")
UNIFIED_ID = re.compile(r"^video_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
QUOTA_MESSAGE = "用户额度不足, 剩余额度: \uff040.000000"


@dataclass
class Reply:
    """One HTTP answer, fully read."""

    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """A tiny client for one simulator."""

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator, key: str = "sk-sim") -> None:
        self.session = session
        self.sim = sim
        self.key = key

    def _headers(self, key: str | None) -> dict[str, str]:
        key = self.key if key is None else key
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def request(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Reply:
        url = path if path.startswith("http") else self.sim.base_url + path
        headers = {**self._headers(key), **kwargs.pop("headers", {})}
        async with self.session.request(method, url, headers=headers, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json=body, **kwargs)

    async def create(self, **fields: Any) -> dict[str, Any]:
        reply = await self.post("/v1/videos", {"model": "sora-2", "prompt": "a cat", **fields})
        assert reply.status == 200, reply.body
        created: dict[str, Any] = reply.json()
        return created

    async def create_unified(self, **fields: Any) -> dict[str, Any]:
        body = {"model": "veo3.1-fast-components", "prompt": "a cow", "images": ["https://example.com/a.png"]}
        reply = await self.post("/v1/video/create", {**body, **fields})
        assert reply.status == 200, reply.body
        created: dict[str, Any] = reply.json()
        return created

    async def poll(self, task_id: str, **kwargs: Any) -> Reply:
        return await self.get(f"/v1/videos/{task_id}", **kwargs)

    async def query(self, task_id: str, **kwargs: Any) -> Reply:
        return await self.get("/v1/video/query", params={"id": task_id}, **kwargs)


Launch = Callable[..., Awaitable[tuple[Simulator, Api]]]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("sim-media"))


@pytest.fixture
async def launch(media_dir: str) -> AsyncIterator[Launch]:
    """Start simulators (instant mode by default) that stop at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def _launch(clock: Any = None, sleep: Any = None, **overrides: Any) -> tuple[Simulator, Api]:
            # A gateway that still has a Sora channel: the simulator keeps the gateway's Sora rules.
            settings = {
                "tick_seconds": 0.0,
                "task_seconds": 0.0,
                "media_dir": media_dir,
                "models": (*DEFAULT_MODELS, "sora-2", "sora-2-pro"),
                **overrides,
            }
            sim = await stack.enter_async_context(Simulator(SimulatorConfig(**settings), clock=clock, sleep=sleep))
            return sim, Api(session, sim)

        yield _launch


def top_level_boxes(data: bytes) -> list[tuple[bytes, int]]:
    """Walk the top-level MP4 boxes, returning (type, size) pairs; fails on a broken structure."""
    boxes, pos = [], 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        assert size >= 8 and pos + size <= len(data), (kind, size, pos, len(data))
        boxes.append((kind, size))
        pos += size
    return boxes


# --- auth, routing, models ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "wrong", "sk-wrong"])
async def test_bad_or_missing_key_gets_openai_shaped_401(launch: Launch, key: str) -> None:
    _, api = await launch()
    reply = await api.get("/v1/models", key=key)
    assert reply.status == 401
    error = reply.json()["error"]
    assert re.fullmatch(r"Invalid token \(request id: \w+\)", error["message"])
    assert error["type"] == "new_api_error"
    assert error["code"] == ""


@pytest.mark.parametrize(("configured", "sent"), [("sk-sim", "sim"), ("sim", "sk-sim"), ("sk-sim", "sk-sim")])
async def test_key_prefix_is_optional_on_either_side(launch: Launch, configured: str, sent: str) -> None:
    _, api = await launch(key=configured)
    assert (await api.get("/v1/models", key=sent)).status == 200


async def test_models_list_has_openai_shape(launch: Launch) -> None:
    _, api = await launch(models=("sora-2", "veo3.1-fast"))
    body = (await api.get("/v1/models")).json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [("sora-2", "model"), ("veo3.1-fast", "model")]


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/nope"), ("DELETE", "/v1/videos/x"), ("GET", "/api/x")])
async def test_unknown_gateway_path_is_invalid_url_404(launch: Launch, method: str, path: str) -> None:
    _, api = await launch()
    reply = await api.request(method, path)
    assert reply.status == 404
    assert reply.json() == {
        "error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error", "param": "", "code": ""}
    }


@pytest.mark.parametrize("path", ["/", "/videos", "/gateway/v1/videos/x"])
async def test_non_gateway_path_is_the_html_dashboard(launch: Launch, path: str) -> None:
    _, api = await launch()
    reply = await api.get(path, key="")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b'<div id="root">' in reply.body


# --- POST /v1/videos ------------------------------------------------------------------------------------------


async def test_create_openai_success_shape(launch: Launch) -> None:
    _, api = await launch()
    body = await api.create(prompt="a cat on a skateboard")
    assert TASK_ID.match(body["id"])
    assert body["task_id"] == body["id"]
    assert body | {"created_at": 0} == {
        "id": body["id"],
        "task_id": body["id"],
        "object": "video",
        "model": "sora-2",
        "status": "queued",
        "progress": 0,
        "created_at": 0,
        "seconds": "4",
        "size": "720x1280",
    }
    assert isinstance(body["created_at"], int)


async def test_create_openai_accepts_pro_sizes_and_allowed_seconds(launch: Launch) -> None:
    _, api = await launch()
    body = await api.create(model="sora-2-pro", size="1792x1024", seconds="12", input_reference="https://x.test/a.png")
    assert (body["size"], body["seconds"]) == ("1792x1024", "12")
    data_uri = "data:image/png;base64,iVBORw0KGgo="
    assert (await api.create(input_reference=data_uri))["status"] == "queued"
    assert (await api.create(input_reference="iVBORw0KGgo="))["status"] == "queued"


async def test_create_openai_accepts_multipart_with_a_file(launch: Launch) -> None:
    _, api = await launch()
    form = aiohttp.FormData()
    for name, value in (("model", "sora-2"), ("prompt", "a cat"), ("seconds", "8"), ("size", "1280x720")):
        form.add_field(name, value)
    form.add_field("input_reference", b"\x89PNG....", filename="ref.png", content_type="image/png")
    reply = await api.request("POST", "/v1/videos", data=form)
    assert reply.status == 200, reply.body
    assert reply.json()["seconds"] == "8"


async def test_create_without_json_content_type_says_model_not_specified(launch: Launch) -> None:
    _, api = await launch()
    body = json.dumps({"model": "sora-2", "prompt": "x"})
    reply = await api.request("POST", "/v1/videos", data=body, headers={"Content-Type": "text/plain"})
    assert reply.status == 400
    assert reply.json()["error"]["message"].startswith("Model name not specified")


async def test_create_with_unparseable_json_is_invalid_request(launch: Launch) -> None:
    _, api = await launch()
    reply = await api.request("POST", "/v1/videos", data="{bad", headers={"Content-Type": "application/json"})
    assert reply.status == 400
    error = reply.json()["error"]
    assert error["message"].startswith("Invalid request: ")
    assert error["type"] == "new_api_error"


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"model": "", "prompt": "x"}, 400, "", "Model name not specified"),
        ({"model": "dall-e", "prompt": "x"}, 503, "model_not_found", "No available channel for model dall-e"),
    ],
)
async def test_create_model_errors_have_openai_shape(
    launch: Launch, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    _, api = await launch()
    reply = await api.post("/v1/videos", body)
    assert reply.status == status
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message)


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        ({"seconds": 8}, "invalid_json", "json: cannot unmarshal number into Go struct field .seconds of type string"),
        ({"input_reference": ["https://x.test/a.png"]}, "invalid_json", "cannot unmarshal array into Go struct"),
        ({"prompt": "   "}, "invalid_request", "prompt is required"),
        ({"size": "1792x1024"}, "invalid_size", "sora-2 size is invalid"),
        ({"model": "sora-2-pro", "size": "640x480"}, "invalid_size", "sora-2 size is invalid"),
    ],
)
async def test_create_openai_task_shape_validation(
    launch: Launch, fields: dict[str, Any], code: str, message: str
) -> None:
    _, api = await launch()
    reply = await api.post("/v1/videos", {"model": "sora-2", "prompt": "a cat", **fields})
    assert reply.status == 400
    body = reply.json()
    assert body["code"] == code
    assert message in body["message"]
    assert body["data"] is None


@pytest.mark.parametrize(
    ("fields", "upstream_message"),
    [({"seconds": "10"}, "Invalid value for seconds"), ({"input_reference": "not a url!"}, "Invalid input_reference")],
)
async def test_create_openai_upstream_refusal_is_fail_to_fetch_task(
    launch: Launch, fields: dict[str, Any], upstream_message: str
) -> None:
    _, api = await launch()
    reply = await api.post("/v1/videos", {"model": "sora-2", "prompt": "a cat", **fields})
    assert reply.status == 400
    body = reply.json()
    assert body["code"] == "fail_to_fetch_task"
    upstream = json.loads(body["message"])["error"]
    assert upstream["message"].startswith(upstream_message)
    assert upstream["code"] == "invalid_value"


async def test_non_sora_model_skips_sora_rules(launch: Launch) -> None:
    _, api = await launch()
    body = await api.create(model="veo3.1-fast", seconds="10", size="1920x1080")
    assert body["status"] == "queued"


# --- POST /v1/video/create ------------------------------------------------------------------------------------


async def test_create_unified_success_shape(launch: Launch) -> None:
    _, api = await launch()
    body = await api.create_unified(
        orientation="landscape", size="1280x720", duration=8, aspect_ratio="16:9", enable_upsample=True
    )
    assert UNIFIED_ID.match(body["id"])
    assert body["object"] == "video"
    assert (body["status"], body["progress"], body["size"]) == ("queued", 0, "1280x720")
    assert body["detail"]["input"]["images"] == ["https://example.com/a.png"]
    assert body["detail"]["input"]["aspect_ratio"] == "16:9"
    assert body["status_update_time"] == body["created_at"]


async def test_create_unified_infers_size_from_orientation(launch: Launch) -> None:
    _, api = await launch()
    assert (await api.create_unified(orientation="portrait"))["size"] == "720x1280"
    assert (await api.create_unified(aspect_ratio="16:9"))["size"] == "1280x720"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"images": "https://x.test/a.png"}, "images must be a list"),
        ({"images": ["ftp://x.test/a.png"]}, "images must be a list"),
        ({"orientation": "square"}, "orientation must be one of"),
        ({"size": "1920x1080"}, "size must be one of"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio must be one of"),
        ({"duration": "8"}, "duration must be an integer"),
        ({"duration": True}, "duration must be an integer"),
        ({"enable_upsample": "yes"}, "enable_upsample must be a boolean"),
        ({"orientation": "portrait", "enable_upsample": True}, "only supported for landscape"),
        ({"orientation": "portrait", "size": "1280x720"}, "do not describe the same frame shape"),
        ({"prompt": ""}, "prompt is required"),
    ],
)
async def test_create_unified_validation(launch: Launch, fields: dict[str, Any], message: str) -> None:
    _, api = await launch()
    body = {"model": "veo3.1-fast-components", "prompt": "a cow", **fields}
    reply = await api.post("/v1/video/create", body)
    assert reply.status == 400
    assert reply.json()["code"] == "invalid_request"
    assert message in reply.json()["message"]


# --- lifecycle ------------------------------------------------------------------------------------------------


async def test_openai_task_changes_only_at_refreshes(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    sim, api = await launch(clock=clock, tick_seconds=15.0, task_seconds=20.0)
    clock.set(1000.5)
    task_id = (await api.create())["id"]
    clock.set(1014.9)
    before = (await api.poll(task_id)).json()
    assert (before["status"], before["progress"]) == ("queued", 0)
    assert before["error"] == {"message": "", "code": ""}
    clock.set(1015.0)
    running = (await api.poll(task_id)).json()
    assert (running["status"], running["progress"]) == ("in_progress", 70)
    clock.set(1029.9)
    assert (await api.poll(task_id)).json()["progress"] == 70
    clock.set(1030.0)
    done = (await api.poll(task_id)).json()
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["error"] == {"message": "", "code": ""}
    assert "completed_at" in done
    stats = sim.task_stats(task_id)
    assert stats is not None
    assert (stats.polls, stats.first_refresh_at, stats.terminal_at) == (4, 1015.0, 1030.0)
    assert (stats.completed_at, stats.first_poll_terminal_at, stats.status) == (1030.0, 1030.0, Phase.SUCCEEDED)


async def test_tasks_get_stable_offsets_within_the_tick(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    sim, api = await launch(clock=clock, tick_seconds=15.0, tick_spacing_seconds=4.0, task_seconds=1.0)
    ids = [(await api.create())["id"] for _ in range(5)]
    firsts = [sim.task_stats(task_id).first_refresh_at for task_id in ids]  # type: ignore[union-attr]
    assert firsts == [1015.0, 1004.0, 1008.0, 1012.0, 1001.0]
    clock.set(1004.0)
    statuses = [(await api.poll(task_id)).json()["status"] for task_id in ids]
    assert statuses == ["queued", "completed", "queued", "queued", "completed"]


async def test_per_model_task_seconds(launch: Launch) -> None:
    clock = ManualClock()
    _, api = await launch(clock=clock, task_seconds=100.0, model_task_seconds={"sora-2-pro": 5.0})
    slow, fast = (await api.create())["id"], (await api.create(model="sora-2-pro"))["id"]
    clock.advance(5.0)
    assert (await api.poll(slow)).json()["status"] == "in_progress"
    assert (await api.poll(fast)).json()["status"] == "completed"


async def test_non_sora_task_on_openai_route_is_unknown_before_first_refresh(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    _, api = await launch(clock=clock, tick_seconds=15.0, task_seconds=20.0)
    clock.advance(0.5)
    task_id = (await api.create(model="veo3.1-fast"))["id"]
    body = (await api.poll(task_id)).json()
    assert (body["status"], body["progress"]) == ("unknown", 0)
    clock.set(1015.0)
    assert (await api.poll(task_id)).json()["status"] == "in_progress"


async def test_unified_query_lifecycle_and_video_url(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    sim, api = await launch(clock=clock, tick_seconds=10.0, task_seconds=20.0, unified_progress=ProgressStyle.ALTERNATE)
    clock.set(1001.0)
    created = await api.create_unified()
    pending = (await api.query(created["id"])).json()
    assert (pending["status"], pending["progress"], pending["video_url"]) == ("pending", 0, None)
    assert pending["status_update_time"] // 1000 == created["created_at"]
    clock.set(1010.0)
    first = (await api.query(created["id"])).json()
    assert (first["status"], first["progress"], first["video_url"]) == ("processing", "50", None)
    clock.set(1020.0)
    second = (await api.query(created["id"])).json()
    assert (second["status"], second["progress"]) == ("processing", "90")
    assert second["status_update_time"] == first["status_update_time"]
    clock.set(1030.0)
    done = (await api.query(created["id"])).json()
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["status_update_time"] - first["status_update_time"] == 20_000
    assert done["video_url"] == f"{sim.base_url}/files/{created['id']}.mp4"
    video = await api.get(done["video_url"], key="")
    assert video.status == 200
    assert video.headers["Content-Type"] == "video/mp4"
    assert has_ftyp(video.body)


async def test_any_task_can_be_read_through_either_poll_shape(launch: Launch) -> None:
    _, api = await launch(unified_progress=ProgressStyle.STRING)
    openai_id = (await api.create())["id"]
    unified_id = (await api.create_unified())["id"]
    assert (await api.query(openai_id)).json()["progress"] == "100"
    assert (await api.poll(unified_id)).json()["status"] == "completed"


@pytest.mark.parametrize("route", ["poll", "query"])
async def test_unknown_or_foreign_task_is_task_not_exist(launch: Launch, route: str) -> None:
    _, api = await launch(extra_keys=("sk-other",))
    task_id = (await api.create())["id"]
    read = api.poll if route == "poll" else api.query
    expected = {"code": "task_not_exist", "message": "task_not_exist", "data": None}
    for reply in (await read("task_" + "x" * 32), await read(task_id, key="sk-other")):
        assert (reply.status, reply.json()) == (400, expected)
    assert (await read(task_id)).status == 200


async def test_query_without_id_is_refused(launch: Launch) -> None:
    _, api = await launch()
    reply = await api.get("/v1/video/query")
    assert (reply.status, reply.json()["code"]) == (400, "invalid_request")


# --- content --------------------------------------------------------------------------------------------------


async def test_content_streams_a_valid_mp4(launch: Launch) -> None:
    sim, api = await launch()
    for task_id in ((await api.create())["id"], (await api.create_unified())["id"]):
        assert (await api.poll(task_id)).json()["status"] == "completed"
        reply = await api.get(f"/v1/videos/{task_id}/content")
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "video/mp4"
        assert int(reply.headers["Content-Length"]) == len(reply.body)
        assert [kind for kind, _ in top_level_boxes(reply.body)][:1] == [b"ftyp"]
        assert b"avc1" in reply.body
        assert sim.task_stats(task_id).downloads == 1  # type: ignore[union-attr]


async def test_content_before_completion_and_for_unknown_task(launch: Launch) -> None:
    clock = ManualClock()
    _, api = await launch(clock=clock, task_seconds=10.0)
    task_id = (await api.create())["id"]
    clock.advance(1.0)
    early = await api.get(f"/v1/videos/{task_id}/content")
    assert (early.status, early.json()) == (
        400,
        {"error": {"message": "Task is not completed yet, current status: IN_PROGRESS", "type": "new_api_error"}},
    )
    missing = await api.get("/v1/videos/task_nope/content")
    assert (missing.status, missing.json()) == (404, {"error": {"message": "Task not found", "type": "new_api_error"}})


# --- faults ---------------------------------------------------------------------------------------------------


async def test_prompt_markers_fail_tasks(launch: Launch) -> None:
    _, api = await launch()
    failed = (await api.poll((await api.create(prompt="please FAIL"))["id"])).json()
    assert (failed["status"], failed["error"]) == ("failed", {"message": "upstream error", "code": "upstream_error"})
    moderated = await api.create_unified(prompt="MODERATE this")
    body = (await api.query(moderated["id"])).json()
    assert body["status"] == "failed"
    assert body["video_url"] is None
    assert body["error"]["message"] == "Your request was blocked by our moderation system."
    content = await api.get(f"/v1/videos/{failed['id']}/content")
    assert content.json()["error"]["message"].endswith("current status: FAILURE")


async def test_moderation_failure_lands_at_first_refresh(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    sim, api = await launch(clock=clock, tick_seconds=15.0, task_seconds=60.0)
    sim.faults.moderate_tasks(model="sora-2")
    clock.set(1000.5)
    task_id = (await api.create())["id"]
    clock.set(1015.0)
    body = (await api.poll(task_id)).json()
    assert (body["status"], body["error"]["code"]) == ("failed", "moderation_blocked")


async def test_fail_tasks_targets_model_and_count(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.fail_tasks("boom", "e1", model="sora-2-pro", count=1)
    ok = (await api.create())["id"]
    doomed = (await api.create(model="sora-2-pro"))["id"]
    later = (await api.create(model="sora-2-pro"))["id"]
    statuses = [(await api.poll(task_id)).json()["status"] for task_id in (ok, doomed, later)]
    assert statuses == ["completed", "failed", "completed"]
    assert (await api.poll(doomed)).json()["error"] == {"message": "boom", "code": "e1"}


@pytest.mark.parametrize("unified", [False, True])
async def test_policy_refusal_at_create(launch: Launch, unified: bool) -> None:
    sim, api = await launch()
    sim.faults.refuse_policy(prompt_contains="dragon")
    path = "/v1/video/create" if unified else "/v1/videos"
    model = "veo3.1-fast" if unified else "sora-2"
    for prompt in ("a dragon", "POLICY test"):
        reply = await api.post(path, {"model": model, "prompt": prompt})
        assert reply.status == 400
        body = reply.json()
        assert body["code"] == "fail_to_fetch_task"
        assert "moderation_blocked" in body["message"]
        assert json.loads(body["message"])["error"]["code"] == "moderation_blocked"
    assert (await api.post(path, {"model": model, "prompt": "a dragon"})).status == 200


async def test_balance_exhausted_at_create(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.exhaust_balance(count=2)
    for path in ("/v1/videos", "/v1/video/create"):
        reply = await api.post(path, {"model": "sora-2", "prompt": "x"})
        assert (reply.status, reply.json()) == (
            403,
            {"code": "insufficient_user_quota", "message": QUOTA_MESSAGE, "data": None},
        )
    await api.create()


async def test_rate_limit_with_empty_body_then_recovers(launch: Launch) -> None:
    sim, api = await launch()
    task_id = (await api.create())["id"]
    sim.faults.rate_limit(RouteClass.POLL, count=2)
    for _ in range(2):
        reply = await api.poll(task_id)
        assert (reply.status, reply.body) == (429, b"")
        assert "Retry-After" not in reply.headers
    assert (await api.poll(task_id)).status == 200
    assert (await api.get(f"/v1/videos/{task_id}/content")).status == 200


async def test_rate_limit_with_retry_after(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.rate_limit("create", retry_after=7)
    reply = await api.post("/v1/videos", {"model": "sora-2", "prompt": "x"})
    assert (reply.status, reply.headers["Retry-After"]) == (429, "7")
    await api.create()


@pytest.mark.parametrize(
    ("status", "content_type"), [(500, "application/json"), (502, "text/html"), (503, "text/html")]
)
async def test_server_errors(launch: Launch, status: int, content_type: str) -> None:
    sim, api = await launch()
    sim.faults.server_error("content", count=1, status=status)
    task_id = (await api.create())["id"]
    reply = await api.get(f"/v1/videos/{task_id}/content")
    assert reply.status == status
    assert reply.headers["Content-Type"].startswith(content_type)
    assert (await api.get(f"/v1/videos/{task_id}/content")).status == 200


async def test_html_page_fault(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.html_page(None)
    reply = await api.get("/v1/models")
    assert (reply.status, reply.headers["Content-Type"].split(";")[0]) == (200, "text/html")


async def test_slow_answers_use_the_injected_sleep(launch: Launch) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    sim, api = await launch(sleep=record)
    sim.faults.delay(2.5, route="poll", count=2)
    task_id = (await api.create())["id"]
    for _ in range(3):
        assert (await api.poll(task_id)).status == 200
    assert slept == [2.5, 2.5]


async def test_real_delay_holds_the_answer(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.delay(0.2, route="models")
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert (await api.get("/v1/models")).status == 200
    assert loop.time() - start >= 0.15


async def test_cut_download_announces_full_length_but_closes_early(launch: Launch) -> None:
    sim, api = await launch()
    task_id = (await api.create())["id"]
    sim.faults.cut_downloads(after_bytes=1000, count=1)
    received = 0
    announced = 0
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.session.get(
            f"{sim.base_url}/v1/videos/{task_id}/content", headers={"Authorization": "Bearer sk-sim"}
        ) as resp:
            announced = int(resp.headers["Content-Length"])
            async for chunk in resp.content.iter_any():
                received += len(chunk)
    assert received == 1000 < announced
    full = await api.get(f"/v1/videos/{task_id}/content")
    assert len(full.body) == announced


async def test_oversized_result_is_padded_valid_mp4(launch: Launch) -> None:
    sim, api = await launch()
    task_id = (await api.create())["id"]
    sim.faults.oversize(3_000_000)
    reply = await api.get(f"/v1/videos/{task_id}/content")
    assert len(reply.body) == int(reply.headers["Content-Length"]) == 3_000_000
    boxes = top_level_boxes(reply.body)
    assert boxes[0][0] == b"ftyp"
    assert boxes[-1][0] == b"free"
    assert len((await api.get(f"/v1/videos/{task_id}/content")).body) < 3_000_000


async def test_expired_links(launch: Launch) -> None:
    sim, api = await launch()
    created = await api.create_unified()
    url = (await api.query(created["id"])).json()["video_url"]
    sim.faults.expire_links(count=2)
    reply = await api.get(f"/v1/videos/{created['id']}/content")
    assert (reply.status, reply.json()) == (
        502,
        {"error": {"message": "Upstream service returned status 403", "type": "new_api_error"}},
    )
    cdn = await api.get(url, key="")
    assert cdn.status == 403
    assert b"Request has expired" in cdn.body
    assert (await api.get(url, key="")).status == 200


async def test_content_answers_json_url(launch: Launch) -> None:
    sim, api = await launch()
    task_id = (await api.create())["id"]
    sim.faults.content_as_json_url()
    reply = await api.get(f"/v1/videos/{task_id}/content")
    assert reply.headers["Content-Type"].startswith("application/json")
    url = reply.json()["url"]
    assert url.startswith(sim.base_url)
    assert has_ftyp((await api.get(url, key="")).body)


async def test_lost_task_after_first_poll(launch: Launch) -> None:
    sim, api = await launch()
    sim.faults.lose_tasks(after_polls=1)
    lost = (await api.create())["id"]
    kept = (await api.create())["id"]
    assert (await api.poll(lost)).status == 200
    assert (await api.poll(lost)).json()["code"] == "task_not_exist"
    assert (await api.get(f"/v1/videos/{lost}/content")).status == 404
    assert sim.lose_task(kept)
    assert (await api.poll(kept)).json()["code"] == "task_not_exist"
    assert not sim.lose_task("task_unknown")


async def test_faults_from_config(launch: Launch) -> None:
    faults = (FaultSpec(FaultKind.RATE_LIMIT, count=1, route=RouteClass.MODELS),)
    _, api = await launch(faults=faults, fail_prompt_marker=None)
    assert (await api.get("/v1/models")).status == 429
    assert (await api.get("/v1/models")).status == 200
    assert (await api.poll((await api.create(prompt="FAIL"))["id"])).json()["status"] == "completed"


# --- control endpoints and stats ------------------------------------------------------------------------------


async def test_http_fault_control(launch: Launch) -> None:
    _, api = await launch()
    task_id = (await api.create())["id"]
    armed = await api.post("/_sim/faults", [{"kind": "server_error", "route": "poll", "status": 500, "count": None}])
    assert armed.status == 200
    assert armed.json()["faults"][0]["remaining"] is None
    assert (await api.poll(task_id)).status == 500
    assert (await api.poll(task_id)).status == 500
    assert len((await api.get("/_sim/faults", key="")).json()["faults"]) == 1
    assert (await api.request("DELETE", "/_sim/faults", key="")).status == 200
    assert (await api.poll(task_id)).status == 200
    await api.post("/_sim/faults", {"faults": [{"kind": "oversize", "size_bytes": 100_000}]}, key="")
    assert len((await api.get(f"/v1/videos/{task_id}/content")).body) == 100_000


@pytest.mark.parametrize(
    "payload",
    [{"kind": "nope"}, {"route": "poll"}, {"kind": "delay", "seconds": "x"}, {"kind": "rate_limit", "bogus": 1}, [1]],
)
async def test_http_fault_control_rejects_bad_specs(launch: Launch, payload: Any) -> None:
    _, api = await launch()
    reply = await api.post("/_sim/faults", payload, key="")
    assert reply.status == 400
    assert "error" in reply.json()


async def test_http_stats_and_task_endpoints(launch: Launch) -> None:
    _, api = await launch()
    task_id = (await api.create())["id"]
    await api.poll(task_id)
    await api.poll(task_id)
    await api.get("/v1/models", key="bad")
    stats = (await api.get("/_sim/stats", key="")).json()
    assert stats["requests"]["POST /v1/videos"] == 1
    assert stats["requests"]["GET /v1/videos/{task_id}"] == 2
    assert stats["route_classes"]["poll"] == 2
    assert stats["statuses"]["401"] == 1
    assert stats["tasks"] == {"total": 1, "by_status": {"SUCCESS": 1}}
    detailed = (await api.get("/_sim/stats", key="", params={"tasks": "1"})).json()
    assert [(t["task_id"], t["polls"]) for t in detailed["task_stats"]] == [(task_id, 2)]
    task = (await api.get(f"/_sim/tasks/{task_id}", key="")).json()
    assert (task["polls"], task["status"], task["format"]) == (2, "SUCCESS", "openai")
    assert task["first_poll_terminal_at"] is not None
    assert (await api.get("/_sim/tasks/none", key="")).status == 404
    assert len((await api.get("/_sim/tasks", key="")).json()["tasks"]) == 1
    assert (await api.post(f"/_sim/tasks/{task_id}/lose", key="")).status == 200
    assert (await api.poll(task_id)).status == 400
    assert (await api.post("/_sim/stats/reset", key="")).json()["requests"] == {}
    assert (await api.get("/_sim/config", key="")).json()["tick_seconds"] == 0.0


async def test_thousand_concurrent_tasks(launch: Launch) -> None:
    clock = ManualClock(1000.0)
    sim, api = await launch(clock=clock, tick_seconds=15.0, task_seconds=20.0)
    connector_limit = asyncio.Semaphore(100)

    async def create() -> str:
        async with connector_limit:
            return str((await api.create())["id"])

    ids = await asyncio.gather(*(create() for _ in range(1000)))
    assert len(set(ids)) == 1000
    clock.advance(36.0)

    async def poll(task_id: str) -> str:
        async with connector_limit:
            return str((await api.poll(task_id)).json()["status"])

    statuses = await asyncio.gather(*(poll(task_id) for task_id in ids))
    assert set(statuses) == {"completed"}
    assert sim.stats.route_classes["poll"] == 1000
    assert all(stats.terminal_at <= 1036.0 for stats in sim.all_task_stats())


# --- pure pieces ----------------------------------------------------------------------------------------------


def _task(created: float, seq: int, schedule: Schedule, run: float = 20.0) -> SimTask:
    return SimTask(
        "t", TaskFormat.OPENAI, "k", "sora-2", "p", "720x1280", "4", created, 0, seq, schedule.offset_for(seq), run
    )


def test_schedule_is_a_pure_function_of_time() -> None:
    schedule = Schedule(origin=0.0, tick=15.0, spacing=1.0)
    task = _task(created=14.0, seq=3, schedule=schedule)
    assert task.offset == 3.0
    phases = [schedule.snapshot(task, t).phase for t in (17.9, 18.0, 33.0, 47.9, 48.0, 999.0)]
    assert phases == [Phase.NOT_STARTED, Phase.RUNNING, Phase.RUNNING, Phase.RUNNING, Phase.SUCCEEDED, Phase.SUCCEEDED]
    assert schedule.terminal_at(task) == 48.0
    assert schedule.snapshot(task, 60.0) == schedule.snapshot(task, 60.0)


def test_running_progress_is_coarse_and_below_100() -> None:
    assert [running_progress(e, 20.0) for e in (0.0, 1.0, 4.9, 10.0, 19.9, 25.0)] == [0, 10, 20, 50, 90, 90]


def test_media_padding_keeps_mp4_structure(media_dir: str) -> None:
    base = sample_video(media_dir)
    assert has_ftyp(base)
    assert padded_size(len(base), None) == len(base)
    assert padded_size(len(base), len(base) + 3) == len(base) + 8
    padded = b"".join(iter_video(base, len(base) + 8))
    assert top_level_boxes(padded)[-1] == (b"free", 8)
    assert free_box_header(2**33) == struct.pack(">I4sQ", 1, b"free", 2**33)


def test_config_rejects_negative_times_and_fault_specs_validate() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        SimulatorConfig(tick_seconds=-1)
    with pytest.raises(ValueError, match="5xx"):
        FaultSpec(FaultKind.SERVER_ERROR, status=404)
    assert FaultSpec.from_json({"kind": "delay", "seconds": 1, "route": "poll"}).seconds == 1.0


def test_cli_arguments_build_the_config() -> None:
    args = parse_args(["--port", "0", "--key", "sk-x", "--tick-seconds", "0", "--models", "sora-2, veo3.1-fast"])
    config = config_from_args(args)
    assert (config.port, config.key, config.tick_seconds) == (0, "sk-x", 0.0)
    assert config.models == ("sora-2", "veo3.1-fast")
    assert parse_args([]).port == 8787


# --- the simulator explains itself, and its results follow the request --------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "shape", "seconds"),
    [
        (
            "/v1/videos",
            {"model": "veo-3.1-fast-generate-preview", "metadata": {"durationSeconds": 6, "aspectRatio": "9:16"}},
            (90, 160),
            6,
        ),
        ("/v1/videos", {"model": "sora-2", "size": "1280x720", "seconds": "8"}, (160, 90), 8),
        ("/v1/videos", {"model": "kling-v2-1", "size": "720x1280", "duration": 10}, (90, 160), 10),
        ("/v1/videos", {"model": "doubao-seedance-1-0-pro-250528", "metadata": {"ratio": "1:1"}}, (160, 160), 5),
        ("/v1/video/create", {"model": "veo3.1-fast", "orientation": "portrait", "duration": 8}, (90, 160), 8),
    ],
    ids=["veo-metadata", "sora-size", "kling-size", "seedance-ratio", "unified-orientation"],
)
async def test_results_have_the_requested_aspect_and_length(
    launch: Launch, media_dir: str, tmp_path: Any, path: str, body: dict[str, Any], shape: tuple[int, int], seconds: int
) -> None:
    sim, api = await launch()
    created = await api.post(path, {"prompt": "a fox", **body})
    assert created.status == 200, created.body
    task_id = created.json().get("id") or created.json()["task_id"]
    content = await api.get(f"/v1/videos/{task_id}/content")
    again = await api.get(f"/v1/videos/{task_id}/content")

    assert content.status == 200 and again.body == content.body
    clip = tmp_path / "result.mp4"
    clip.write_bytes(content.body)
    info = await Encoder().probe(clip)
    assert (info.width, info.height) == shape
    assert abs(info.duration_seconds - seconds) < 1
    cached = [p.name for p in Path(media_dir).iterdir() if p.name.startswith("reelbot-gateway-sim-")]
    assert f"reelbot-gateway-sim-{shape[0]}x{shape[1]}-{seconds}s-v2.mp4" in cached  # made once, then served from disk
    assert sim.video_of(task_id) == content.body


async def test_an_unknown_fault_kind_is_answered_with_the_valid_ones(launch: Launch) -> None:
    _, api = await launch()
    reply = await api.post("/_sim/faults", {"kind": "rate_limits", "route": "poll"})

    assert reply.status == 400
    assert reply.json()["kinds"] == [str(kind) for kind in FaultKind]
    assert "unknown fault kind 'rate_limits'; valid kinds: rate_limit, server_error" in reply.json()["error"]
    assert (await api.get("/_sim/faults")).json()["faults"] == []


def test_the_command_line_refuses_an_unknown_fault_kind_with_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--fault", "ratelimit"])
    err = capsys.readouterr().err

    assert stopped.value.code == 2
    assert "unknown fault kind 'ratelimit'; valid kinds:" in err
    assert all(str(kind) in err for kind in FaultKind)
    armed = config_from_args(parse_args(["--fault", "rate_limit", "--fault", '{"kind": "delay", "seconds": 2}']))
    assert [(spec.kind, spec.count) for spec in armed.faults] == [(FaultKind.RATE_LIMIT, None), (FaultKind.DELAY, 1)]


def test_help_lists_every_fault_kind_and_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())

    assert stopped.value.code == 0
    assert all(f" {kind} " in out for kind in FaultKind)
    defaults = SimulatorConfig()
    assert f"(default {defaults.tick_seconds}; 0 = every read)" in out
    assert f"how long a task runs before it is done (default {defaults.task_seconds})" in out
    assert "aspect" in out and "seconds long" in out


async def test_the_simulator_prints_its_control_endpoints_at_start(media_dir: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.devtools.gateway",
        "--port",
        "0",
        "--media-dir",
        media_dir,
        "--log-level",
        "WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not lines or "/_sim/config" not in lines[-1]:
                lines.append((await proc.stdout.readline()).decode())
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), timeout=30)
    base = lines[0].split()[3].rstrip(":")
    text = "".join(lines)

    assert f"GATEWAY_BASE_URL={base} GATEWAY_API_KEY=sk-sim" in lines[0]
    assert "tasks take 20 s, refreshes every 15 s" in text
    for method, path, _, _ in ENDPOINTS:
        assert re.search(rf"^  {method} +{re.escape(base + path)} ", text, re.MULTILINE), (method, path)
