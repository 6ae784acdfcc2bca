"""A Job built in memory, as the store hands one back right after ``add``, for tests (and benchmarks)."""

from __future__ import annotations

import dataclasses

from bot.domain import DeliveryState, Job, JobStatus, Orientation, WireFormat


def fresh_job(**changes: object) -> Job:
    """A stored, not yet submitted sora-2 job created at t=1000; ``changes`` override any field."""
    job = Job(
        id="abcd2345",
        origin="cli",
        requester_id=None,
        guild_id=None,
        channel_id=None,
        thread_id=None,
        status_message_id=None,
        result_message_id=None,
        prompt="a lighthouse in a storm",
        model="sora-2",
        wire_format=WireFormat.OPENAI,
        orientation=Orientation.LANDSCAPE,
        duration=4,
        hd=False,
        image_count=0,
        task_id=None,
        status=JobStatus.SUBMITTING,
        remote_status=None,
        progress=None,
        created_at=1000.0,
        submitted_at=None,
        updated_at=1000.0,
        finished_at=None,
        next_poll_at=None,
        last_poll_at=None,
        poll_count=0,
        refresh_start=None,
        refresh_end=None,
        slow_notified=False,
        error_kind=None,
        error_message=None,
        result_path=None,
        result_bytes=None,
        delivery_state=DeliveryState.NONE,
        deliver_at=None,
        delivery_attempts=0,
        maybe_delivered=False,
        delivered_at=None,
    )
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]  # tests pass valid field values
