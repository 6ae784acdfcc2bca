"""Both wire formats: request bodies, routes, id handling and response parsing against recorded payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import ModelSpec
from bot.domain import GenerationRequest, ImageTransport, Orientation, RemoteState, WireFormat
from bot.errors import GatewayProtocolError
from bot.gateway.formats import WireCodec, codec_for, openai, unified

FIXTURES = Path(__file__).parent / "fixtures" / "gateway"
TASK = "task_8fKq2LmZpR4sVxY7bN3cD9eH1jW6tA0u"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def spec(
    name: str, fmt: WireFormat, landscape: str, portrait: str, hd: frozenset[Orientation] = frozenset()
) -> ModelSpec:
    return ModelSpec(
        name=name,
        label=name,
        wire_format=fmt,
        sizes={Orientation.LANDSCAPE: landscape, Orientation.PORTRAIT: portrait},
        durations=(4, 8, 12),
        default_duration=8,
        max_images=3,
        image_transport=ImageTransport.URL,
        hd_orientations=hd,
        credits_per_second=1.0,
    )


SORA = spec("sora-2", WireFormat.OPENAI, "1280x720", "720x1280")
SORA_PRO = spec("sora-2-pro", WireFormat.OPENAI, "1792x1024", "1024x1792")
VEO = spec("veo3.1-fast-components", WireFormat.UNIFIED, "1280x720", "720x1280", frozenset({Orientation.LANDSCAPE}))


def request(
    orientation: Orientation = Orientation.LANDSCAPE, images: tuple[str, ...] = (), hd: bool = False, duration: int = 8
) -> GenerationRequest:
    return GenerationRequest(
        prompt="a cat on a skateboard", model="m", orientation=orientation, duration=duration, hd=hd, images=images
    )


class TestOpenAIRequest:
    def test_body_without_images(self) -> None:
        assert openai.build_create(request(duration=4), SORA) == {
            "model": "sora-2",
            "prompt": "a cat on a skateboard",
            "size": "1280x720",
            "seconds": "4",
        }

    def test_seconds_is_a_string_and_size_follows_orientation(self) -> None:
        body = openai.build_create(request(Orientation.PORTRAIT, duration=12), SORA_PRO)
        assert body["seconds"] == "12"
        assert isinstance(body["seconds"], str)
        assert body["size"] == "1024x1792"

    def test_input_reference_is_one_string(self) -> None:
        images = ("data:image/png;base64,AAAA", "data:image/png;base64,BBBB")
        body = openai.build_create(request(images=images), SORA)
        assert body["input_reference"] == "data:image/png;base64,AAAA"
        assert "images" not in body

    def test_no_input_reference_without_images(self) -> None:
        assert "input_reference" not in openai.build_create(request(), SORA)

    def test_body_is_json_serialisable(self) -> None:
        json.dumps(openai.build_create(request(images=("https://x.example/a.png",)), SORA))

    def test_routes(self) -> None:
        assert openai.create_path() == "/v1/videos"
        assert openai.query(TASK) == (f"/v1/videos/{TASK}", {})
        assert openai.content_path(TASK) == f"/v1/videos/{TASK}/content"


class TestUnifiedRequest:
    def test_body_landscape(self) -> None:
        body = unified.build_create(request(images=("https://x.example/1.png", "https://x.example/2.png")), VEO)
        assert body == {
            "model": "veo3.1-fast-components",
            "prompt": "a cat on a skateboard",
            "images": ["https://x.example/1.png", "https://x.example/2.png"],
            "orientation": "landscape",
            "size": "1280x720",
            "duration": 8,
            "aspect_ratio": "16:9",
            "enable_upsample": False,
        }

    def test_body_portrait_without_images(self) -> None:
        body = unified.build_create(request(Orientation.PORTRAIT), VEO)
        assert body["images"] == []
        assert body["orientation"] == "portrait"
        assert body["size"] == "720x1280"
        assert body["aspect_ratio"] == "9:16"

    def test_duration_is_an_int(self) -> None:
        body = unified.build_create(request(duration=8), VEO)
        assert body["duration"] == 8
        assert type(body["duration"]) is int

    def test_upsample_only_where_the_model_offers_hd(self) -> None:
        assert unified.build_create(request(Orientation.LANDSCAPE, hd=True), VEO)["enable_upsample"] is True
        assert unified.build_create(request(Orientation.PORTRAIT, hd=True), VEO)["enable_upsample"] is False
        assert unified.build_create(request(Orientation.LANDSCAPE, hd=False), VEO)["enable_upsample"] is False

    def test_routes(self) -> None:
        assert unified.create_path() == "/v1/video/create"
        assert unified.query("veo3:Ab_c") == ("/v1/video/query", {"id": "veo3:Ab_c"})
        assert unified.content_path(TASK) == f"/v1/videos/{TASK}/content"


@pytest.mark.parametrize(
    ("task_id", "encoded"),
    [
        ("task_AbCdEf0123", "task_AbCdEf0123"),
        ("sora-2:task_XyZ", "sora-2%3Atask_XyZ"),
        ("veo3:8b82/32a3", "veo3%3A8b82%2F32a3"),
        ("video_8b8232a3-847b-40e2-a3a3-912813b7ac60", "video_8b8232a3-847b-40e2-a3a3-912813b7ac60"),
        ("a b?c#d", "a%20b%3Fc%23d"),
    ],
)
def test_ids_are_url_encoded_in_paths_and_never_changed(task_id: str, encoded: str) -> None:
    assert openai.query(task_id) == (f"/v1/videos/{encoded}", {})
    assert openai.content_path(task_id) == f"/v1/videos/{encoded}/content"
    assert unified.content_path(task_id) == f"/v1/videos/{encoded}/content"
    assert unified.query(task_id)[1] == {"id": task_id}


class TestCodec:
    @pytest.mark.parametrize(("fmt", "module"), [(WireFormat.OPENAI, openai), (WireFormat.UNIFIED, unified)])
    def test_codec_bundles_the_module(self, fmt: WireFormat, module: Any) -> None:
        codec = codec_for(fmt)
        assert isinstance(codec, WireCodec)
        assert codec.wire_format is fmt
        assert codec.create_path() == module.create_path()
        assert codec.query("x") == module.query("x")
        assert codec.build_create(request(), VEO) == module.build_create(request(), VEO)

    def test_codec_is_frozen(self) -> None:
        with pytest.raises(AttributeError):
            codec_for(WireFormat.OPENAI).wire_format = WireFormat.UNIFIED  # type: ignore[misc]


class TestSubmit:
    def test_openai_create(self) -> None:
        result = openai.parse_submit(load("openai_create_queued"))
        assert result.task_id == TASK
        assert result.snapshot.state is RemoteState.RUNNING
        assert result.snapshot.raw_status == "queued"
        assert result.snapshot.progress == 0

    def test_other_adaptor_create(self) -> None:
        assert openai.parse_submit(load("openai_create_other_adaptor")).task_id == TASK

    def test_unified_veo_create(self) -> None:
        result = unified.parse_submit(load("unified_create_veo"))
        assert result.task_id == "video_8b8232a3-847b-40e2-a3a3-912813b7ac60"
        assert result.snapshot.state is RemoteState.RUNNING
        assert result.snapshot.updated_at == 1768489641

    def test_unified_sora_create_keeps_prefix_and_case(self) -> None:
        result = unified.parse_submit(load("unified_create_sora"))
        assert result.task_id == "sora-2:task_01K8ZQ4Y0XAbCdEfGh"
        assert result.snapshot.raw_status == "pending"
        assert result.snapshot.updated_at == pytest.approx(1768489641.123)

    def test_task_id_fallback(self) -> None:
        assert unified.parse_submit({"task_id": "veo3:Q", "status": "pending"}).task_id == "veo3:Q"
        assert openai.parse_submit({"id": "", "task_id": "task_Q"}).task_id == "task_Q"

    def test_id_kept_exactly(self) -> None:
        assert openai.parse_submit({"id": " Task_MiXeD "}).task_id == " Task_MiXeD "

    def test_wrapped_create(self) -> None:
        assert (
            openai.parse_submit({"code": "success", "data": {"task_id": TASK, "status": "SUBMITTED"}}).task_id == TASK
        )

    @pytest.mark.parametrize("payload", [None, [], "task_x", 7, {}, {"id": ""}, {"id": None, "status": "queued"}])
    def test_missing_id_is_a_protocol_error(self, payload: object) -> None:
        with pytest.raises(GatewayProtocolError):
            openai.parse_submit(payload)
        with pytest.raises(GatewayProtocolError):
            unified.parse_submit(payload)

    def test_protocol_error_names_what_is_missing(self) -> None:
        with pytest.raises(GatewayProtocolError) as caught:
            openai.parse_submit({"status": "queued"})
        assert "id" in caught.value.detail
        with pytest.raises(GatewayProtocolError) as caught:
            openai.parse_submit(["x"])
        assert "JSON object" in caught.value.detail

    def test_error_envelope_at_200_is_a_protocol_error(self) -> None:
        with pytest.raises(GatewayProtocolError) as caught:
            openai.parse_submit({"error": {"message": "nope", "type": "new_api_error", "code": ""}})
        assert "nope" in caught.value.detail


class TestOpenAISnapshots:
    def test_running(self) -> None:
        snap = openai.parse_snapshot(load("openai_running"))
        assert (snap.state, snap.raw_status, snap.progress) == (RemoteState.RUNNING, "in_progress", 45)
        assert snap.result_url is None
        assert snap.error is None

    def test_unknown_right_after_create_is_running(self) -> None:
        snap = openai.parse_snapshot(load("openai_unknown_not_start"))
        assert snap.state is RemoteState.RUNNING
        assert snap.raw_status == "unknown"
        assert snap.result_url is None

    def test_succeeded_without_url(self) -> None:
        snap = openai.parse_snapshot(load("openai_succeeded_no_url"))
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url is None
        assert snap.progress == 100
        assert snap.updated_at == 1768489900

    def test_succeeded_with_metadata_url(self) -> None:
        snap = openai.parse_snapshot(load("openai_succeeded_metadata_url"))
        assert snap.result_url == "https://cdn.example.com/kling/out.mp4"

    def test_empty_error_on_success_is_ignored(self) -> None:
        snap = openai.parse_snapshot(load("openai_succeeded_video_url"))
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url == "https://cdn.example.com/sora/out.mp4"
        assert snap.progress == 100
        assert (snap.error, snap.error_code) == (None, None)

    def test_failed_with_error_object(self) -> None:
        snap = openai.parse_snapshot(load("openai_failed_error_object"))
        assert snap.state is RemoteState.FAILED
        assert snap.error == "Your request was blocked by our moderation system."
        assert snap.error_code == "moderation_blocked"

    def test_failed_with_legacy_text_in_metadata_url(self) -> None:
        snap = openai.parse_snapshot(load("openai_failed_legacy_metadata_text"))
        assert snap.state is RemoteState.FAILED
        assert snap.result_url is None
        assert snap.error == "task failed: image resolution too small"

    def test_gemini_failure_without_reason(self) -> None:
        snap = openai.parse_snapshot(load("openai_failed_gemini_no_reason"))
        assert snap.state is RemoteState.FAILED
        assert (snap.error, snap.error_code) == (None, None)

    def test_missing_status_is_running(self) -> None:
        snap = openai.parse_snapshot({"id": TASK, "progress": 10})
        assert snap.state is RemoteState.RUNNING
        assert snap.raw_status == ""

    def test_missing_status_with_result_is_success(self) -> None:
        snap = openai.parse_snapshot({"video_url": "https://cdn.example.com/v.mp4"})
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url == "https://cdn.example.com/v.mp4"

    @pytest.mark.parametrize(
        "payload",
        [
            None,
            [],
            "completed",
            {"error": {"message": "upstream returned error", "type": "new_api_error", "code": "500"}},
            {"error": "boom"},
            {"code": "task_not_exist", "message": "task_not_exist", "data": None},
            {"code": "fail", "message": "oops", "data": {"status": "SUCCESS"}},
        ],
    )
    def test_protocol_errors(self, payload: object) -> None:
        with pytest.raises(GatewayProtocolError):
            openai.parse_snapshot(payload)


class TestGenericWrapper:
    def test_running(self) -> None:
        snap = openai.parse_snapshot(load("generic_wrapper_running"))
        assert (snap.state, snap.raw_status, snap.progress) == (RemoteState.RUNNING, "IN_PROGRESS", 30)
        assert snap.result_url is None

    def test_failed_with_fail_reason(self) -> None:
        snap = openai.parse_snapshot(load("generic_wrapper_failed"))
        assert snap.state is RemoteState.FAILED
        assert snap.error == "任务超时\uff081440分钟\uff09"
        assert snap.updated_at == 1768576041

    def test_succeeded_with_result_url(self) -> None:
        snap = openai.parse_snapshot(load("generic_wrapper_succeeded"))
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url == f"https://gateway.example.com/v1/videos/{TASK}/content"

    def test_gemini_shape(self) -> None:
        snap = openai.parse_snapshot(load("generic_wrapper_gemini"))
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url == f"https://gateway.example.com/v1/videos/{TASK}/content"

    @pytest.mark.parametrize(
        ("status", "state"),
        [
            ("NOT_START", RemoteState.RUNNING),
            ("SUBMITTED", RemoteState.RUNNING),
            ("QUEUED", RemoteState.RUNNING),
            ("IN_PROGRESS", RemoteState.RUNNING),
            ("UNKNOWN", RemoteState.RUNNING),
            ("SUCCESS", RemoteState.SUCCEEDED),
            ("FAILURE", RemoteState.FAILED),
        ],
    )
    def test_task_status_vocabulary(self, status: str, state: RemoteState) -> None:
        snap = openai.parse_snapshot({"code": "success", "message": "", "data": {"status": status, "progress": "20%"}})
        assert snap.state is state
        assert snap.raw_status == status
        assert snap.progress == 20


class TestUnifiedSnapshots:
    def test_processing_with_ms_timestamp_and_string_progress(self) -> None:
        snap = unified.parse_snapshot(load("unified_processing_ms"))
        assert snap.state is RemoteState.RUNNING
        assert snap.progress == 0
        assert snap.result_url is None
        assert snap.updated_at == pytest.approx(1768489700.456)

    def test_generation_completed_is_still_running(self) -> None:
        snap = unified.parse_snapshot(load("unified_veo_generation_completed"))
        assert snap.state is RemoteState.RUNNING
        assert snap.raw_status == "video_generation_completed"
        assert snap.updated_at == 1768489800

    def test_completed_with_seconds_timestamp(self) -> None:
        snap = unified.parse_snapshot(load("unified_completed_s"))
        assert snap.state is RemoteState.SUCCEEDED
        assert snap.result_url == "https://cdn.example.com/veo/out.mp4"
        assert snap.updated_at == 1768489900

    def test_failed_with_string_error(self) -> None:
        snap = unified.parse_snapshot(load("unified_failed_string_error"))
        assert snap.state is RemoteState.FAILED
        assert snap.error == "The prompt violates our usage guidelines"

    def test_failed_without_reason(self) -> None:
        snap = unified.parse_snapshot(load("unified_failed_no_reason"))
        assert snap.state is RemoteState.FAILED
        assert snap.error is None

    def test_fingerprint_changes_with_progress(self) -> None:
        first = unified.parse_snapshot({"status": "processing", "progress": 10})
        second = unified.parse_snapshot({"status": "processing", "progress": "20"})
        assert first.fingerprint != second.fingerprint
