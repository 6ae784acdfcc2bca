"""What the gateway answers is read within bounds: capped bodies, bounded nesting, unreadable submits named."""

from __future__ import annotations

import json
import logging

import pytest

from bot.devtools.gateway import Simulator
from bot.domain import ErrorKind, JobStatus, NewJob
from bot.engine import Engine
from bot.errors import GatewayAcceptedUnreadableError, GatewayProtocolError
from bot.gateway.answers import JSON_BODY_MAX_BYTES, JSON_MAX_DEPTH, decode_json

MODEL = "veo-3.1-fast-generate-preview"
DEEP = "[" * 100_000 + "]" * 100_000


async def submitted(engine: Engine) -> str:
    job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="x", model=MODEL)))
    assert job.task_id is not None
    return job.task_id


async def test_a_poll_answer_over_the_cap_is_unreadable(engine: Engine, sim: Simulator) -> None:
    task_id = await submitted(engine)
    huge = json.dumps({"id": task_id, "status": "queued", "padding": "x" * JSON_BODY_MAX_BYTES})
    sim.faults.raw_body("poll", huge, count=None)

    with pytest.raises(GatewayProtocolError, match="larger than"):
        await engine.client.fetch(task_id, engine.models.named(MODEL).wire_format)


async def test_a_chunked_poll_answer_over_the_cap_is_unreadable(engine: Engine, sim: Simulator) -> None:
    task_id = await submitted(engine)
    huge = json.dumps({"id": task_id, "status": "queued", "padding": "x" * JSON_BODY_MAX_BYTES})
    sim.faults.raw_body("poll", huge, chunk_bytes=1024 * 1024, count=None)  # no Content-Length to go by

    with pytest.raises(GatewayProtocolError, match="larger than"):
        await engine.client.fetch(task_id, engine.models.named(MODEL).wire_format)


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"status": ' + "[" * 990 + "]" * 990 + "}",
        '{"status": "queued", "progress": ' + "9" * 400 + "}",
        '{"status": "queued", "progress": ' + "9" * 5000 + "}",
    ],
    ids=["too-deep", "near-the-stack-limit", "number-past-any-float", "number-too-long-to-convert"],
)
async def test_an_unreadable_poll_answer_is_a_protocol_error(engine: Engine, sim: Simulator, body: str) -> None:
    task_id = await submitted(engine)
    sim.faults.raw_body("poll", body, count=None)

    with pytest.raises(GatewayProtocolError, match="expected JSON"):
        await engine.client.fetch(task_id, engine.models.named(MODEL).wire_format)


@pytest.mark.parametrize(
    "body", [DEEP, json.dumps({"id": "task_1", "padding": "x" * JSON_BODY_MAX_BYTES})], ids=["deep", "huge"]
)
async def test_a_submit_accepted_with_an_unreadable_answer_fails_at_once_and_is_logged(
    engine: Engine, sim: Simulator, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    sim.faults.raw_body("create", body)
    caplog.set_level(logging.DEBUG, logger="bot")

    job = await engine.jobs.submit(NewJob(request=engine.jobs.build_request(prompt="a private picnic", model=MODEL)))

    # An unreadable reply, not a crash that leaves the job "submitting" until it is given up as unconfirmed.
    assert job.status is JobStatus.FAILED
    assert job.error_kind is ErrorKind.UNAVAILABLE
    assert job.error_message == str(GatewayAcceptedUnreadableError.default_message)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(job.id in line and "could not be read" in line for line in errors), errors
    assert "private picnic" not in caplog.text
    stored = await engine.store.get(job.id)
    assert stored is not None and stored.status is JobStatus.FAILED
    assert sim.stats.route_classes["create"] == 1


async def test_an_unreadable_list_of_models_is_a_protocol_error(engine: Engine, sim: Simulator) -> None:
    sim.faults.raw_body("models", DEEP, count=None)
    with pytest.raises(GatewayProtocolError):
        await engine.client.list_models()


def test_nesting_up_to_the_limit_is_read() -> None:
    assert decode_json("[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH) is not None
    with pytest.raises(ValueError, match="nested"):
        decode_json("[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1))
