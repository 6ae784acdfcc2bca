"""A Job built in memory, as the store hands one back right after ``add``, for tests (and benchmarks)."""

from __future__ import annotations

import dataclasses

from bot.domain import GenerationRequest, Job, NewJob, Orientation, WireFormat
from bot.services import lifecycle


def fresh_job(**changes: object) -> Job:
    """A stored, not yet submitted sora-2 job created at t=1000; ``changes`` override any field."""
    request = GenerationRequest(
        prompt="a lighthouse in a storm", model="sora-2", orientation=Orientation.LANDSCAPE, duration=4
    )
    job = lifecycle.created(NewJob(request=request, origin="cli"), WireFormat.OPENAI, 1000.0, 0.0)
    job = dataclasses.replace(job, id="abcd2345", next_poll_at=None)
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]  # tests pass valid field values
