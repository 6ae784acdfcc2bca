"""Status message edits: the latest state of each job, at most one edit per job every few seconds.

Discord limits message edits per channel (about five per five seconds), and every status message of a channel
shares that budget, while each result goes into a thread of its own. So edits are cosmetics that never hold up
a result: only the newest wanted state of a job is kept (intermediate progress is skipped, not queued), a
finished job's final state goes before any progress edit, no edit starts while a result is being posted, and a
channel over budget simply waits its turn without holding up the other channels. The elapsed time needs no
edits: Discord clients render the start time relative to now.

Several processes may poll one job, each with its own editor, and another may deliver it, so a progress edit read
before the job finished can reach Discord after the delivering process marked the status message done (a rate
limit holds a request back for seconds). So each progress edit shows the job as the store has it, none is made
for a finished job, and one that turns out to have landed after the job finished puts the final state back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

import discord

from bot.domain import DeliveryState, Job, JobStatus
from bot.front import private, render
from bot.front.buttons import retry_view
from bot.storage import JobStore

log = logging.getLogger(__name__)

JOB_EDIT_INTERVAL_SECONDS: Final = 5.0
CHANNEL_EDITS_PER_WINDOW: Final = 4  # one below Discord's five, for the edits made outside this editor
CHANNEL_WINDOW_SECONDS: Final = 5.0
# A delivery waits this long for its final status edit before it is recorded anyway (the edit stays queued).
FINAL_EDIT_WAIT_SECONDS: Final = 120.0
# A progress edit that landed after its job finished looks this often whether the job is delivered yet.
REFINISH_CHECK_SECONDS: Final = 1.0


@dataclass(slots=True)
class _Wanted:
    """The newest edit wanted for one job's status message."""

    job: Job
    fields: dict[str, Any] | None = None  # None: render the job's current progress at edit time
    done: asyncio.Future[None] | None = None  # a final state's waiter, told once the edit was tried

    @property
    def final(self) -> bool:
        return self.done is not None

    @property
    def channel_id(self) -> int:
        """The channel whose edit budget the edit spends: a private job's status message may be in a DM."""
        assert self.job.channel_id is not None
        return self.job.dm_channel_id or self.job.channel_id


class StatusEditor:
    """Coalesces and paces status message edits, always with the bot token."""

    def __init__(
        self, client: discord.Client, clock: Callable[[], float] = time.monotonic, *, store: JobStore | None = None
    ) -> None:
        self._client = client
        self._clock = clock
        self._store = store  # the jobs' current state; without it, edits show what on_change was told
        self._wanted: dict[str, _Wanted] = {}
        self._last_edit: dict[str, float] = {}
        self._channel_edits: dict[int, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._editing: dict[int, asyncio.Task[None]] = {}  # at most one edit per channel at a time, in order
        self._posts = 0
        self._wake = asyncio.Event()
        self._late: set[str] = set()  # jobs whose progress edit may have landed after another process's final one
        self._refinishing: set[asyncio.Task[None]] = set()

    async def on_change(self, job: Job, became_slow: bool) -> None:
        """The poller's progress listener: remember the job's newest state."""
        if job.status_message_id is None or job.channel_id is None or job.status.is_terminal:
            return  # terminal states are shown by the delivery, together with the result
        wanted = self._wanted.get(job.id)
        if wanted is not None and wanted.final:
            return
        self._wanted[job.id] = _Wanted(job)
        self._wake.set()

    async def finish(self, job: Job, **fields: Any) -> None:
        """Show a finished job's final state (the edit's ``fields``) before any progress edit; wait until tried."""
        if job.status_message_id is None or job.channel_id is None:
            return
        done = asyncio.get_running_loop().create_future()
        replaced = self._wanted.get(job.id)
        self._wanted[job.id] = _Wanted(job, fields, done)
        if replaced is not None and replaced.done is not None and not replaced.done.done():
            replaced.done.set_result(None)
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(done), FINAL_EDIT_WAIT_SECONDS)
        except TimeoutError:
            log.warning("Job %s: its status message is not marked done yet; it will be when Discord allows", job.id)

    def forget(self, job_id: str) -> None:
        """Drop a job's pending progress edit (its final state is about to be shown)."""
        wanted = self._wanted.get(job_id)
        if wanted is not None and not wanted.final:
            del self._wanted[job_id]
        self._last_edit.pop(job_id, None)

    @contextlib.asynccontextmanager
    async def posting(self) -> AsyncIterator[None]:
        """Hold back new edits while a result is being posted."""
        self._posts += 1
        try:
            yield
        finally:
            self._posts -= 1
            self._wake.set()

    async def run(self) -> None:
        """Apply wanted edits as the budgets allow, until cancelled (over REST: no gateway connection needed)."""
        try:
            while True:
                self._wake.clear()
                wait = self._start_due()
                with contextlib.suppress(TimeoutError):  # not wait_for, which can swallow a stop (see the poller)
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
        finally:
            for task in [*self._editing.values(), *self._refinishing]:
                task.cancel()

    async def edit_due(self) -> float | None:
        """Make every edit whose turn has come and wait for them; return how long until the next may go, or None."""
        while True:
            wait = self._start_due()
            if not self._editing:
                return wait
            await asyncio.gather(*self._editing.values())

    def _start_due(self) -> float | None:
        """Start the edits whose turn has come, finals first; return how long until the next one may go."""
        if self._posts:
            return None  # a post is under way; its end wakes the editor
        next_wait: float | None = None
        for job_id, wanted in sorted(self._wanted.items(), key=lambda item: not item[1].final):
            if wanted.channel_id in self._editing:
                continue  # that channel's edit under way wakes the editor when it ends
            now = self._clock()
            ready_at = self._channel_free_at(wanted.channel_id)
            if not wanted.final:
                ready_at = max(ready_at, self._last_edit.get(job_id, 0.0) + JOB_EDIT_INTERVAL_SECONDS)
            if ready_at > now:
                delay = ready_at - now
                next_wait = delay if next_wait is None else min(next_wait, delay)
                continue
            del self._wanted[job_id]
            if wanted.final:
                self._last_edit.pop(job_id, None)
            else:
                self._last_edit[job_id] = now
            self._channel_edits[wanted.channel_id].append(now)
            task = asyncio.create_task(self._edit(wanted))
            self._editing[wanted.channel_id] = task
            task.add_done_callback(functools.partial(self._edited, wanted.channel_id))
        return next_wait

    def _edited(self, channel_id: int, _task: asyncio.Task[None]) -> None:
        self._editing.pop(channel_id, None)
        self._wake.set()

    def _channel_free_at(self, channel_id: int) -> float:
        edits = self._channel_edits[channel_id]
        horizon = self._clock() - CHANNEL_WINDOW_SECONDS
        while edits and edits[0] <= horizon:
            edits.popleft()
        if len(edits) < CHANNEL_EDITS_PER_WINDOW:
            return 0.0
        return edits[0] + CHANNEL_WINDOW_SECONDS

    async def _edit(self, wanted: _Wanted) -> None:
        job = wanted.job
        try:
            edit = await private.status_edit(self._client, self._store, job)
            if edit is None:
                return  # a private reply whose token has expired: it can no longer be edited
            if wanted.final:
                self._late.discard(job.id)  # this final edit lands after every earlier edit of this editor
                await edit(**(wanted.fields or {"embed": render.status_embed(job)}))
                return
            current = await self._current(job)
            if current is None:
                return  # finished, perhaps in another process: its delivery shows the final state
            await edit(embed=render.status_embed(current))
            await self._check_landed_in_time(job.id)
        except discord.NotFound:
            log.info("Job %s: its status message is gone; no more edits", job.id)
            self.forget(job.id)
        except Exception as exc:  # a dropped connection included: one failed edit must not stop the editor
            if wanted.final:  # the result is out; a stale status message is not worth posting it again
                log.warning("Job %s: could not mark the status message done (%s)", job.id, exc)
            else:
                log.warning("Job %s: status edit failed (%s); the next change will try again", job.id, exc)
        finally:
            if wanted.done is not None and not wanted.done.done():
                wanted.done.set_result(None)

    async def _current(self, job: Job) -> Job | None:
        """The job as the store has it now; None once it has finished."""
        current = job if self._store is None else await self._store.get(job.id)
        return None if current is None or current.status.is_terminal else current

    async def _check_landed_in_time(self, job_id: str) -> None:
        """After a progress edit: if the job finished meanwhile, make sure its final state is shown after this edit."""
        if self._store is None:
            return
        job = await self._store.get(job_id)
        wanted = self._wanted.get(job_id)
        if job is None or not job.status.is_terminal or (wanted is not None and wanted.final):
            return  # still running, or this editor's own final edit is queued behind this one
        self._late.add(job_id)
        task = asyncio.create_task(self._refinish(job_id))
        self._refinishing.add(task)
        task.add_done_callback(self._refinishing.discard)

    async def _refinish(self, job_id: str) -> None:
        """Once the job is delivered, show its final state again, unless this editor has shown it since."""
        assert self._store is not None
        give_up_at = self._clock() + FINAL_EDIT_WAIT_SECONDS
        try:
            while job_id in self._late and self._clock() < give_up_at:
                job = await self._store.get(job_id)
                if job is None or job.delivery_state is DeliveryState.FAILED:
                    return
                link = _result_link(job)
                # A cancelled job posted nothing, so it has no result to link; any other needs its link.
                shown = link is not None or job.status is JobStatus.CANCELLED
                if job.delivery_state is DeliveryState.DELIVERED and shown:
                    log.info(
                        "Job %s: a progress edit came after its final state; showing the final state again", job_id
                    )
                    await self.finish(job, **final_fields(job, link))
                    return
                await asyncio.sleep(REFINISH_CHECK_SECONDS)
        except Exception:
            log.exception("Job %s: could not check its status message's final state", job_id)
        finally:
            self._late.discard(job_id)


def final_fields(job: Job, result_link: str | None) -> dict[str, Any]:
    """The edit that shows a finished job's final state on its status message, linking its result (a cancelled
    job has none): no button, or Retry under a failure. A private job's result may be in its status message itself
    (its private reply, with the DMs closed): then only the status shows its final state, the result's files and
    buttons stay."""
    if job.private and job.result_message_id is not None and job.result_message_id == job.status_message_id:
        return {"embed": render.status_embed(job)}
    view = retry_view(job) if job.status is JobStatus.FAILED else None
    return {"embed": render.status_embed(job, result_link=result_link), "view": view}


def _result_link(job: Job) -> str | None:
    """The link to a delivered job's result post, from what the store kept of it."""
    if job.result_channel_id is None or job.result_message_id is None:
        return None
    if job.result_channel_id in (job.thread_id, job.channel_id):
        return render.message_link(job.guild_id, job.result_channel_id, job.result_message_id)
    # The member's DMs: a private job's, or the fallback of a public one.
    return f"https://discord.com/channels/@me/{job.result_channel_id}/{job.result_message_id}"
