"""The status, progress, result-URL, error and timestamp vocabulary shared by both wire formats."""

from __future__ import annotations

import pytest

from bot.domain import RemoteState
from bot.gateway.vocab import (
    CONTENT_POLICY_MARKERS,
    find_error,
    find_result_url,
    looks_like_content_policy,
    normalise_status,
    parse_progress,
    parse_snapshot,
    parse_timestamp,
)


@pytest.mark.parametrize(
    "raw",
    [
        "completed",
        "COMPLETED",
        " Completed ",
        "succeeded",
        "success",
        "SUCCESS",
        "done",
        "Done",
        "video_upsampling_completed",
        "VIDEO-UPSAMPLING-COMPLETED",
    ],
)
def test_success_words(raw: str) -> None:
    assert normalise_status(raw) is RemoteState.SUCCEEDED


@pytest.mark.parametrize(
    "raw",
    [
        "failed",
        "FAILED",
        "failure",
        "FAILURE",
        "error",
        "cancelled",
        "canceled",
        "expired",
        "video_generation_failed",
        "video_upsampling_failed",
        "Video-Generation-Failed",
        "image_downloading_failed",
    ],
)
def test_failure_words(raw: str) -> None:
    assert normalise_status(raw) is RemoteState.FAILED


@pytest.mark.parametrize(
    "raw",
    [
        "unknown",
        "UNKNOWN",
        "NOT_START",
        "not-start",
        "pending",
        "queued",
        "QUEUED",
        "SUBMITTED",
        "submitted",
        "processing",
        "in_progress",
        "IN_PROGRESS",
        "in progress",
        "video_generating",
        "image_downloading",
        "video_upsampling",
        "video_generation_completed",  # Veo: upsampling may follow, the final word is "completed"
        "something_new",
        "",
        "   ",
        None,
        0,
        True,
        ["completed"],
    ],
)
def test_everything_else_is_still_running(raw: object) -> None:
    assert normalise_status(raw) is RemoteState.RUNNING


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, 0),
        (50, 50),
        (100, 100),
        (150, 100),
        (-5, 0),
        (33.6, 34),
        ("30", 30),
        ("0", 0),
        ("50%", 50),
        (" 30 % ", 30),
        ("100%", 100),
        ("12.5%", 12),
        ("250%", 100),
        ("", None),
        ("%", None),
        ("abc", None),
        ("NaN", None),
        (float("inf"), None),
        (None, None),
        (True, None),
        (False, None),
        ([50], None),
        ({"value": 50}, None),
    ],
)
def test_progress(raw: object, expected: int | None) -> None:
    assert parse_progress(raw) == expected


class TestResultUrl:
    def test_order_video_url_first(self) -> None:
        payload = {
            "video_url": "https://a.example/v.mp4",
            "url": "https://b.example/v.mp4",
            "metadata": {"url": "https://c.example/v.mp4"},
            "result_url": "https://d.example/v.mp4",
        }
        assert find_result_url(payload) == "https://a.example/v.mp4"

    def test_then_url_then_metadata_then_result_url(self) -> None:
        assert find_result_url({"video_url": "", "url": "https://b.example/v.mp4"}) == "https://b.example/v.mp4"
        assert find_result_url({"url": None, "metadata": {"url": "https://c.example/v"}}) == "https://c.example/v"
        assert find_result_url({"metadata": {"url": ""}, "result_url": "http://d.example/v"}) == "http://d.example/v"

    def test_data_url_accepted(self) -> None:
        assert find_result_url({"url": "data:video/mp4;base64,AAAA"}) == "data:video/mp4;base64,AAAA"

    @pytest.mark.parametrize(
        "payload",
        [
            {},
            {"video_url": None, "url": "", "metadata": None, "result_url": "   "},
            {"metadata": {"url": "task failed: image too small"}},  # legacy failure text
            {"video_url": 42, "url": ["https://x.example/v.mp4"], "metadata": "https://x.example"},
            {"url": "ftp://x.example/v.mp4"},
            {"url": "/v1/videos/task_x/content"},
        ],
    )
    def test_unusable_values_skipped(self, payload: dict[str, object]) -> None:
        assert find_result_url(payload) is None

    def test_surrounding_whitespace_trimmed(self) -> None:
        assert find_result_url({"video_url": "  https://a.example/v.mp4\n"}) == "https://a.example/v.mp4"


class TestFindError:
    def test_error_object(self) -> None:
        assert find_error({"error": {"message": "blocked", "code": "moderation_blocked"}}) == (
            "blocked",
            "moderation_blocked",
        )

    def test_empty_error_object_means_none(self) -> None:
        assert find_error({"error": {"message": "", "code": ""}}) == (None, None)

    def test_string_error(self) -> None:
        assert find_error({"error": "upstream exploded"}) == ("upstream exploded", None)

    def test_fail_reason(self) -> None:
        reason = "任务超时\uff081440分钟\uff09"
        assert find_error({"error": None, "fail_reason": reason}) == (reason, None)

    def test_empty_error_falls_through_to_fail_reason_and_keeps_code(self) -> None:
        assert find_error({"error": {"message": "", "code": "E1"}, "fail_reason": "bad"}) == ("bad", "E1")

    def test_detail_error_and_message(self) -> None:
        assert find_error({"detail": {"error": "veo refused"}}) == ("veo refused", None)
        assert find_error({"message": "boom"}) == ("boom", None)

    def test_legacy_failure_text_in_metadata_url(self) -> None:
        assert find_error({"metadata": {"url": "image resolution too small"}}) == ("image resolution too small", None)

    def test_metadata_url_that_is_a_url_is_not_a_reason(self) -> None:
        assert find_error({"metadata": {"url": "https://cdn.example/v.mp4"}}) == (None, None)

    def test_numeric_code_becomes_text(self) -> None:
        assert find_error({"error": {"message": "slow down", "code": 429}}) == ("slow down", "429")

    def test_nothing(self) -> None:
        assert find_error({"error": None, "fail_reason": "", "message": "  "}) == (None, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1768489641, 1768489641.0),
        (1768489641123, 1768489641.123),
        (1768489641.5, 1768489641.5),
        ("1768489641", 1768489641.0),
        ("1768489641123", 1768489641.123),
        (0, None),
        (-1, None),
        ("", None),
        ("yesterday", None),
        (None, None),
        (True, None),
        (float("nan"), None),
    ],
)
def test_timestamp(raw: object, expected: float | None) -> None:
    result = parse_timestamp(raw)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


class TestContentPolicy:
    @pytest.mark.parametrize(
        "text",
        [
            "Your request was blocked by our moderation system.",
            "This content may violate our guardrails concerning similarity to third-party content.",
            "The prompt contains sensitive words",
            "Inappropriate content detected",
            "rejected by the safety system",
            "This prompt contains words that violate Vertex AI's usage guidelines",
            "提示词包含违规内容",
            "内容涉及敏感信息",
            "图片审核未通过",
        ],
    )
    def test_refusals(self, text: str) -> None:
        assert looks_like_content_policy(text)

    @pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation", "CONTENT_POLICY_VIOLATION"])
    def test_codes(self, code: str) -> None:
        assert looks_like_content_policy(None, code)

    @pytest.mark.parametrize(
        "text", [None, "", "sora-2 size is invalid", "Invalid token", "用户额度不足", "upstream returned error"]
    )
    def test_other_errors(self, text: str | None) -> None:
        assert not looks_like_content_policy(text, "invalid_size")

    def test_markers_are_lower_case(self) -> None:
        assert all(marker == marker.lower() for marker in CONTENT_POLICY_MARKERS)


def test_a_non_sora_task_over_v1_videos() -> None:
    """What new-api builds for Kling, Seedance, Wan and Veo tasks (`ToVideoStatus`): read as the gateway means it."""
    unknown = parse_snapshot(
        {"id": "task_x", "object": "video", "status": "unknown", "progress": 0, "completed_at": 1765000000}
    )
    assert unknown.state is RemoteState.RUNNING
    assert unknown.updated_at == 1765000000  # the task's last update, filled while it still runs
    running = parse_snapshot(
        {"status": "in_progress", "progress": 30, "completed_at": 1765000015, "metadata": {"url": ""}}
    )
    assert (running.state, running.progress, running.result_url) == (RemoteState.RUNNING, 30, None)
    done = parse_snapshot(
        {"status": "completed", "progress": 100, "metadata": {"url": "https://cdn.example.com/v.mp4"}, "error": None}
    )
    assert (done.state, done.result_url) == (RemoteState.SUCCEEDED, "https://cdn.example.com/v.mp4")
    withheld = parse_snapshot({"status": "completed", "progress": 100, "metadata": {"url": ""}})
    assert (withheld.state, withheld.result_url) == (RemoteState.SUCCEEDED, None)  # the content route decides
