"""Fuzzing what the gateway can send: the answer parsers and the MP4 check get random and adversarial input.

Each must return a valid object or raise one of its documented GatewayError types, never anything else. Time and
memory are bounded by construction (answers read to a cap, JSON to a depth, MP4 boxes to a count), so the tests
bound the input sizes and assert on the outcome, not on timings; the MP4 check's memory is measured.
"""

from __future__ import annotations

import json
import math
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import RemoteState, SubmitResult, TaskSnapshot
from bot.errors import GatewayBadResultError, GatewayError, GatewayProtocolError
from bot.gateway import vocab
from bot.gateway.client import Response, _decode
from bot.gateway.download import _url_from_json, check_mp4
from bot.gateway.error_answers import Stage, error_from_response
from bot.gateway.formats import codec_for
from bot.gateway.vocab import URL_SCHEMES

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = st.sampled_from(
    [
        "id",
        "task_id",
        "status",
        "progress",
        "video_url",
        "url",
        "result_url",
        "metadata",
        "data",
        "code",
        "message",
        "error",
        "fail_reason",
        "detail",
        "status_update_time",
        "updated_at",
        "completed_at",
        "finish_time",
    ]
)
WORDS = st.sampled_from(
    [
        "completed",
        "failed",
        "queued",
        "SUCCESS",
        "FAILURE",
        "in_progress",
        "50%",
        " 30 % ",
        "success",
        "0",
        "fail_to_fetch_task",
        "task_not_exist",
        "http://cdn.example/v.mp4",
        "data:video/mp4;base64,AAAA",
        "",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**300), max_value=10**300)  # decode_json refuses longer integers
    | st.sampled_from([10**300, -(10**300), 2**63, 1e11, 1.7e308])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | WORDS
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=6), children, max_size=6),
    max_leaves=24,
)


def nested(depth: int, inner: str = "1") -> str:
    return '{"data": ' * depth + inner + "}" * depth


ADVERSARIAL_TEXT = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5000).map(nested),
    st.integers(1, 3000).map(lambda depth: '{"status": "completed", "video_url": ' + "[" * depth + "]" * depth + "}"),
    st.integers(290, 6000).map(lambda digits: '{"status": "queued", "progress": ' + "9" * digits + "}"),
    st.integers(290, 400).map(lambda digits: '{"status": "queued", "updated_at": -' + "9" * digits + "}"),
    st.integers(1, 3000).map(
        lambda depth: json.dumps({"code": "fail_to_fetch_task", "message": "[" * depth + "]" * depth})
    ),
    st.text(max_size=200),
)
BODIES = ADVERSARIAL_TEXT.map(str.encode) | st.binary(max_size=300)
CONTENT_TYPES = st.sampled_from(["application/json", "text/html", "text/plain", "", "video/mp4"])
HEADERS = st.dictionaries(st.sampled_from(["Retry-After", "retry-after", "Content-Type"]), st.text(max_size=40))


def assert_valid_snapshot(snapshot: TaskSnapshot) -> None:
    assert isinstance(snapshot.state, RemoteState)
    assert isinstance(snapshot.raw_status, str)
    assert snapshot.progress is None or 0 <= snapshot.progress <= 100
    assert snapshot.result_url is None or snapshot.result_url.lower().startswith(URL_SCHEMES)
    assert snapshot.updated_at is None or (math.isfinite(snapshot.updated_at) and snapshot.updated_at > 0)


def parse_everything(payload: object) -> None:
    """Every task parser on ``payload``: a valid result, or a GatewayError."""
    parsers: list[Callable[[object], TaskSnapshot | SubmitResult]] = [vocab.parse_snapshot, vocab.parse_submit]
    for codec in (codec_for(fmt) for fmt in ("openai", "unified")):  # type: ignore[arg-type]  # WireFormat values
        parsers += [codec.parse_snapshot, codec.parse_submit]
    for parse in parsers:
        try:
            result = parse(payload)
        except GatewayError:
            continue
        if isinstance(result, SubmitResult):
            assert isinstance(result.task_id, str) and result.task_id.strip()
            assert_valid_snapshot(result.snapshot)
        else:
            assert_valid_snapshot(result)


@FUZZ
@given(JSON_VALUES)
def test_task_parsers_give_a_valid_object_or_a_gateway_error(payload: object) -> None:
    parse_everything(payload)


@FUZZ
@given(BODIES, CONTENT_TYPES)
def test_any_answer_decodes_to_json_or_an_unreadable_reply(body: bytes, content_type: str) -> None:
    try:
        payload = _decode(Response(200, content_type, {}, body))
    except GatewayProtocolError:
        return
    parse_everything(payload)


@FUZZ
@given(st.integers(100, 599), BODIES, CONTENT_TYPES, HEADERS, st.sampled_from(list(Stage)))
def test_any_error_answer_becomes_a_gateway_error_in_plain_words(
    status: int, body: bytes, content_type: str, headers: dict[str, str], stage: Stage
) -> None:
    error = error_from_response(status, body, content_type, headers, stage=stage)
    assert isinstance(error, GatewayError)
    assert error.user_message and "Traceback" not in error.user_message


@FUZZ
@given(BODIES)
def test_a_content_route_link_is_a_url_or_an_unreadable_reply(body: bytes) -> None:
    try:
        url = _url_from_json(body)
    except GatewayProtocolError:
        return
    assert url.startswith(("http://", "https://", "data:"))


BOX_TYPES = st.sampled_from([b"ftyp", b"moov", b"mdat", b"free", b"moof"]) | st.binary(min_size=4, max_size=4)
SIZE_FORMS = st.sampled_from(["exact", "zero", "largesize", "huge32", "huge64", "tiny", "past-end"])


def encode_box(kind: bytes, form: str, payload_bytes: int) -> bytes:
    payload = bytes(payload_bytes)
    match form:
        case "exact":
            return struct.pack(">I4s", 8 + payload_bytes, kind) + payload
        case "zero":
            return struct.pack(">I4s", 0, kind) + payload
        case "largesize":
            return struct.pack(">I4sQ", 1, kind, 16 + payload_bytes) + payload
        case "huge32":
            return struct.pack(">I4s", 0xFFFFFFFF, kind) + payload
        case "huge64":
            return struct.pack(">I4sQ", 1, kind, 2**64 - 1) + payload
        case "tiny":
            return struct.pack(">I4s", payload_bytes % 8, kind) + payload
        case _:
            return struct.pack(">I4s", 9 + payload_bytes, kind) + payload


MP4_FILES = (
    st.lists(st.tuples(BOX_TYPES, SIZE_FORMS, st.integers(0, 64)), max_size=24).map(
        lambda boxes: b"".join(encode_box(*box) for box in boxes)
    )
    | st.binary(max_size=400)
    | st.integers(0, 3000).map(lambda count: encode_box(b"ftyp", "exact", 16) + b"\0\0\0\x08free" * count)
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-mp4") / "video.mp4"


@FUZZ
@given(MP4_FILES)
def test_the_mp4_check_passes_or_refuses_in_constant_memory(scratch: Path, data: bytes) -> None:
    scratch.write_bytes(data)
    tracemalloc.start()
    try:
        check_mp4(scratch)
    except GatewayBadResultError:
        pass
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 64 * 1024
