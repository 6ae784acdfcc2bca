"""A Job built in memory, as the store hands one back right after ``add``, for tests (and benchmarks)."""

from __future__ import annotations

import dataclasses

from bot.domain import GenerationRequest, Job, NewJob, Orientation, WireFormat
from bot.locales import _, _n
from bot.services import lifecycle

# Failure reasons of the two shapes a message takes besides a plain one: holding another message, and with a count.
PAUSED_REASON = _(
    "Video generation is paused: {what}. The operator has been told; try again later.",
    what=_("the video service refused the bot"),
)
COUNTED_REASON = _n("Please wait {count} more second before starting another video.", "", 5)


def fresh_job(**changes: object) -> Job:
    """A stored, not yet submitted sora-2 job created at t=1000; ``changes`` override any field."""
    request = GenerationRequest(
        prompt="a lighthouse in a storm", model="sora-2", orientation=Orientation.LANDSCAPE, duration=4
    )
    job = lifecycle.created(NewJob(request=request, origin="cli"), WireFormat.OPENAI, 1000.0, 0.0)
    job = dataclasses.replace(job, id="abcd2345", next_poll_at=None)
    return dataclasses.replace(job, **changes)  # type: ignore[arg-type]  # tests pass valid field values
