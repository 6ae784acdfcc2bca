"""The poller: takes due jobs from the store, polls them, fetches results and hands finished jobs over."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Final

import aiohttp

from bot.domain import DeliveryState, Job, JobStatus, Transition
from bot.errors import GatewayError, GatewayUnavailableError, LeaseLostError
from bot.gateway.client import GatewayClient
from bot.gateway.download import ResultRules, download_result
from bot.locales import _
from bot.media.store import MediaStore, MediaStoreError
from bot.metrics import Metrics
from bot.services import lifecycle
from bot.services.lifecycle import PollPolicy
from bot.services.phase import SWEEP_REPLAN_SECONDS, RefreshWindow, SharedClock
from bot.storage import JobStore

log = logging.getLogger(__name__)

# Even with nothing due, look at the store this often: another process may have added jobs.
IDLE_CHECK_SECONDS: Final = 2.0
DELIVERY_CONCURRENCY: Final = 4
# What this process learnt of the gateway's refresh loop is merged with the store's (other processes') this often.
CLOCK_SYNC_SECONDS: Final = 5.0
# A job's lease is renewed this many times in each of its lengths while this process works on it.
RENEWALS_PER_LEASE: Final = 3
# A scheduled poll planned again is moved only by more than this: a smaller move is not worth the write.
REPLAN_SHIFT_SECONDS: Final = 0.25
UNSTORED_MESSAGE: Final = _(
    "The finished video could not be stored in the bot's object storage. The operator needs to check MEDIA_S3_* "
    "(`python -m bot check` says what is wrong)."
)

Deliver = Callable[[Job], Awaitable[int | None]]
"""Hands a finished job (succeeded or failed) to its recipient; returns the posted message id, if any.

``job.maybe_delivered`` is true when an earlier attempt was cut off and may have delivered already.
Raising means "try again later", except LeaseLostError: the job's lease passed to another process (``job`` is as
claimed, its ``lease_holder`` this process), and this attempt stops without posting or counting as failed.
"""

Settle = Callable[[Job, int | None], Awaitable[None]]
"""Finishes a delivery after its post (shows the final state on the status message); the job is recorded as
delivered once it returns. It runs outside the delivery slots, so what waits here (an edit waiting for its rate
limit bucket) never holds up another job's post. Raising is logged; the delivery still counts.
"""

OnChange = Callable[[Job, bool], Awaitable[None]]
"""Told about every visible change of a running job; the flag says the job just became slow."""


class Poller:
    """Polls every unfinished job of one origin until it ends, and delivers it exactly once."""

    def __init__(
        self,
        *,
        store: JobStore,
        client: GatewayClient,
        session: aiohttp.ClientSession,
        policy: PollPolicy,
        media: MediaStore,
        result_rules: ResultRules,
        deliver: Deliver,
        origin: str,
        on_change: OnChange | None = None,
        settle: Settle | None = None,
        concurrency: int = 16,
        lease_seconds: float = 90.0,
        lease_holder: str,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self._session = session
        self._policy = policy
        self._media = media
        self._result_rules = result_rules
        self._deliver = deliver
        self._origin = origin
        self._on_change = on_change
        self._settle = settle
        self._clock = clock
        self._metrics = metrics or Metrics(runtime=False)
        # A claimed job is not claimed again for this long; after a crash, its work resumes once it passes.
        self._lease = lease_seconds
        self._holder = lease_holder  # written into every lease this poller takes, naming its process
        self._working: set[str] = set()  # jobs this process is handling; a lapsed lease must not double them
        self._poll_slots = concurrency
        self._delivery_slots = DELIVERY_CONCURRENCY
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._draining = False
        self._clock_synced_at: float | None = None
        self._replan_due = False  # the shared phase became trusted, or stopped being: plan the polls again
        self._sweep_seen = (0, 0.0)  # the sweep's moves when the polls were last planned again for it, and when

    def wake(self) -> None:
        """Look for due work now (a job was just added or finished)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll and deliver until cancelled; in-flight work is cancelled with it and resumes from the store."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self._sync_clock()
                    await self._dispatch()
                    await self._sleep_until_due()
                except Exception:
                    # A database hiccup (disk full, locked) must not end polling for good: wait and try again.
                    log.exception("Poller: could not reach the store; trying again in %.0f s", IDLE_CHECK_SECONDS)
                    await asyncio.sleep(IDLE_CHECK_SECONDS)
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    async def drain(self, grace: float) -> None:
        """Take no new work and give what is under way up to ``grace`` seconds to finish (for shutdown)."""
        self._draining = True
        if self._running:
            await asyncio.wait(list(self._running), timeout=grace)

    async def poll_once(self) -> None:
        """Start every due poll and delivery and wait for them: one cycle, for tests and the CLI."""
        await self._sync_clock(force=True)
        await self._dispatch()
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)
            await self._dispatch()
        await self._sync_clock(force=True)

    async def _sync_clock(self, *, force: bool = False) -> None:
        """Merge the gateway clock this process learnt with the one in the store, and keep the result there."""
        shared = self._policy.timing.shared
        now = self._clock()
        if shared is None or (
            not force and self._clock_synced_at is not None and now - self._clock_synced_at < CLOCK_SYNC_SECONDS
        ):
            return
        self._clock_synced_at = now
        record = await self._store.gateway_clock()
        if record is not None:
            with self._watching_clock(shared, now, ", as kept"):
                shared.merge_record(record)
        kept = shared.as_record()
        if kept != record:
            await self._store.save_gateway_clock(kept)

    def _learn_clock(self, before: Job, after: Job) -> None:
        """Tell the shared gateway clock what this poll taught the job about its refresh phase."""
        shared = self._policy.timing.shared
        if shared is None:
            return
        with self._watching_clock(shared, self._clock(), ""):
            if shared.learn_from(
                lifecycle.refresh_window(before),
                lifecycle.refresh_window(after),
                task=after.id,
                changed_in=change_span(before, after),
                place=lifecycle.place_of(after),
                planned_from=before.last_poll_at,
            ):
                log.info(
                    "The gateway's refresh loop moved (job %s refreshed outside its learnt phase); learning it again",
                    after.id,
                )
            if after.status.is_terminal:
                shared.forget(after.id, self._clock())

    @contextlib.contextmanager
    def _watching_clock(self, shared: SharedClock, now: float, how: str) -> Iterator[None]:
        """Change the shared clock; plan the polls again if that moved its period or the trust in its phase, or (at
        most every ``SWEEP_REPLAN_SECONDS``) when tasks' windows moved in the sweep: their neighbours plan better."""
        trusted = shared.estimate.shared_phase(now) is not None
        period = shared.period
        yield
        if shared.period != period:
            log.info("Gateway clock: the refresh period is now %.1f s (was %.1f s)%s", shared.period, period, how)
        self._replan_due |= shared.period != period
        self._replan_due |= trusted != (shared.estimate.shared_phase(now) is not None)
        moves, replanned_at = self._sweep_seen
        if shared.sweep.moves != moves and now - replanned_at >= SWEEP_REPLAN_SECONDS:
            self._sweep_seen = (shared.sweep.moves, now)
            self._replan_due = True

    async def _replan(self) -> None:
        """Plan the scheduled polls again: they were planned before the shared phase was learnt (or moved)."""
        now = self._clock()
        busy = set(self._in_hand("poll"))
        moves: list[tuple[str, float, float]] = []
        for job in await self._store.planned_polls(self._origin, now):
            if job.id in busy or job.next_poll_at is None:
                continue
            planned = lifecycle.replanned(job, now, self._policy)
            if abs(planned - job.next_poll_at) > REPLAN_SHIFT_SECONDS:
                moves.append((job.id, job.next_poll_at, planned))
        if moves:
            await self._store.replan_polls(moves)
            log.info("Gateway clock: %d scheduled polls planned again", len(moves))

    async def _dispatch(self) -> None:
        if self._draining:
            return
        if self._replan_due:
            self._replan_due = False
            await self._replan()
        now = self._clock()
        if self._poll_slots > 0:
            busy = self._in_hand("poll")
            lease = functools.partial(lifecycle.lease_poll, until=now + self._lease, holder=self._holder)
            for job in await self._store.claim_due(self._origin, now, self._poll_slots, lease, busy):
                self._start(job, self._poll(job), "poll")
        if self._delivery_slots > 0:
            busy = self._in_hand("deliver", "settle")
            handover = functools.partial(
                lifecycle.lease_delivery, now=now, until=now + self._lease, holder=self._holder
            )
            for job in await self._store.claim_deliveries(self._origin, now, self._delivery_slots, handover, busy):
                self._start(job, self._deliver_job(job), "deliver")

    def _in_hand(self, *kinds: str) -> list[str]:
        """Jobs this poller is working on (a lapsed lease must not hand them out again, nor count an attempt)."""
        return [key.split(":", 1)[1] for key in self._working if key.split(":", 1)[0] in kinds]

    def _start(self, job: Job, work: Coroutine[None, None, None], kind: str) -> None:
        key = f"{kind}:{job.id}"
        self._working.add(key)
        if kind == "poll":
            self._poll_slots -= 1
        elif kind == "deliver":
            self._delivery_slots -= 1

        async def wrapped() -> None:
            try:
                await self._holding(job, work, kind)
            finally:
                self._working.discard(key)
                if kind == "poll":
                    self._poll_slots += 1
                elif kind == "deliver":
                    self._delivery_slots += 1
                self._wake.set()

        task = asyncio.create_task(wrapped())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _holding(self, job: Job, work: Coroutine[None, None, None], kind: str) -> None:
        """Do the work on a claimed job, renewing its lease every third of its length until the work ends.

        A poll whose lease is lost (it ran out, and another process took the job over; or the job was cancelled)
        stops at once: nothing it found is written. A delivery notices at its next step instead (its set-up wait,
        the claim of its post, its writes each check that the lease is still this process's), so that a post under
        way is never cut off half-sent.
        """
        task = asyncio.ensure_future(work)
        try:
            while not (await asyncio.wait({task}, timeout=self._lease / RENEWALS_PER_LEASE))[0]:
                if not await self._renew(job, kind):
                    if kind == "poll":
                        task.cancel()
                    break
            await asyncio.wait({task})
        finally:
            if not task.done():  # cancelled from outside (shutdown): the work stops with it
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled():
            task.result()  # what the work raised is raised here, as before

    async def _renew(self, job: Job, kind: str) -> bool:
        """Renew this process's lease on ``job``; False once it is no longer this process's."""
        try:
            held = await self._store.renew_lease(job, self._clock() + self._lease)
        except Exception:
            # The writes check the lease anyway: at worst it runs out and another process takes over.
            log.warning("Job %s: could not renew its lease; trying again", job.id, exc_info=True)
            return True
        if not held:
            log.warning(
                "Job %s: its lease is no longer this process's (another process took the job over, or the job moved "
                "on); stopping its %s",
                job.id,
                "poll" if kind == "poll" else "delivery",
            )
        return held

    async def _write(self, change: Transition, what: str) -> float | None:
        """Record what this process did with a job it holds; None when it was not recorded (and why is logged)."""
        try:
            committed = await self._store.apply_held(change, self._holder)
        except Exception:
            log.exception("Job %s: could not record the %s; it comes back after its lease", change.job.id, what)
            return None
        if committed is None:
            log.warning(
                "Job %s: the %s was not recorded: the job is no longer %s under this process's lease (another "
                "process took it over, or it was cancelled)",
                change.job.id,
                what,
                change.before.status,
            )
        return committed

    async def _sleep_until_due(self) -> None:
        now = self._clock()
        due = [
            t
            for t in (await self._store.next_poll_at(self._origin), await self._store.next_delivery_at(self._origin))
            if t
        ]
        wait = min([IDLE_CHECK_SECONDS, *(max(0.0, t - now) for t in due)])
        if wait <= 0 and (self._poll_slots <= 0 or self._delivery_slots <= 0):
            wait = IDLE_CHECK_SECONDS  # due work is waiting for a slot; a finishing task wakes us
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that comes as the wake-up is set (a task just
        # finished while the poller is stopped), and the poller would go on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    async def _poll(self, job: Job) -> None:
        try:
            change = await self._advance(job)
        except Exception:
            # Counted like a failed poll: backed off, and failed (and refunded) at the deadline if it persists.
            log.exception("Job %s: unexpected error while polling", job.id)
            problem = GatewayUnavailableError("an internal error while polling")
            change = lifecycle.poll_failed(job, problem, self._clock(), self._policy)
        updated, notify = change.job, change.notify
        self._learn_clock(job, updated)
        # Only over the state this poll read: the give-up of an unsent job must not undo a submit.
        committed = await self._write(change, "poll")
        if committed is None:
            return  # nothing of it counts: another process's poll (or the cancel) is what the job shows
        self._metrics.credits_spent.inc(committed)
        if updated.status != job.status or updated.status.is_terminal:
            log.info("Job %s: %s -> %s (task %s)", job.id, job.status, updated.status, updated.task_id)
        if updated.status.is_terminal:
            outcome = updated.status.value if updated.error_kind is None else updated.error_kind.value
            self._metrics.job_finished(updated.model, outcome)
        if self._on_change is not None and notify is not None:
            try:
                await self._on_change(updated, notify.became_slow)
            except Exception:
                log.exception("Job %s: progress listener failed", job.id)

    async def _advance(self, job: Job) -> Transition:
        if job.status is JobStatus.SUBMITTING or job.task_id is None:
            log.error("Job %s: its submit never finished (the process stopped?); not resending", job.id)
            return lifecycle.unconfirmed(job, self._clock())
        self._metrics.polls.inc()
        sent_at = self._clock()
        try:
            snapshot = await self._client.fetch(job.task_id, job.wire_format)
        except GatewayError as exc:
            log.warning("Job %s: poll of task %s failed: %s", job.id, job.task_id, exc)
            self._metrics.poll_errors.labels(kind=exc.kind.value).inc()
            return lifecycle.poll_failed(job, exc, self._clock(), self._policy)
        step = lifecycle.observe(job, snapshot, self._clock(), self._policy, sent_at=sent_at)
        if not step.download:
            return step.transition
        path = self._media.working_dir / f"{job.id}.mp4"
        try:
            size = await download_result(
                self._client, self._session, job.task_id, job.wire_format, step.download_url, path, self._result_rules
            )
            await self._media.publish(job.id, path)
        except MediaStoreError as exc:
            log.warning("Job %s: the result could not be stored: %s", job.id, exc)
            unstored = GatewayUnavailableError(str(exc), user_message=UNSTORED_MESSAGE)
            return step.transition.then(lifecycle.download_failed(step.job, unstored, self._clock(), self._policy))
        except GatewayError as exc:
            log.warning("Job %s: result download failed: %s", job.id, exc)
            failed = lifecycle.download_failed(
                step.job, exc, self._clock(), self._policy, reported_url=step.download_url
            )
            return step.transition.then(failed)
        log.info("Job %s: result saved to %s (%d bytes)", job.id, path, size)
        return step.transition.then(lifecycle.downloaded(step.job, str(path), size, self._clock()))

    async def _deliver_job(self, job: Job) -> None:
        try:
            message_id = await self._deliver(job)
        except LeaseLostError:
            log.warning(
                "Job %s: delivery attempt %d stopped without posting: its lease passed to another process",
                job.id,
                job.delivery_attempts,
            )
            return  # not a failed attempt: the new holder's is the one that counts
        except Exception:
            log.exception("Job %s: delivery attempt %d failed", job.id, job.delivery_attempts)
            failed = lifecycle.delivery_failed(job, self._clock())
            written = await self._write(failed, "failed delivery") is not None
            if written and failed.job.delivery_state is DeliveryState.FAILED:
                self._metrics.delivered("failed")
                log.error("Job %s: gave up delivering after %d attempts", job.id, job.delivery_attempts)
            return
        if self._settle is None:
            await self._record_delivered(job, message_id)
        else:  # started before this task ends, so the job stays in hand throughout
            self._start(job, self._settle_job(job, message_id), "settle")

    async def _settle_job(self, job: Job, message_id: int | None) -> None:
        assert self._settle is not None
        try:
            await self._settle(job, message_id)
        except Exception:
            log.exception("Job %s: finishing its delivery failed; it is delivered all the same", job.id)
        await self._record_delivered(job, message_id)

    async def _record_delivered(self, job: Job, message_id: int | None) -> None:
        # Not recorded (the lease passed meanwhile): the new holder looks before posting, finds this post, records it.
        if await self._write(lifecycle.delivered(job, message_id, self._clock()), "delivery") is not None:
            log.info("Job %s: delivered (%s)", job.id, job.status)


def change_span(before: Job, after: Job) -> RefreshWindow | None:
    """The span a poll that took ``before`` to ``after`` saw the task change in; None when it saw no change."""
    if not lifecycle.refreshed(before, after) or before.last_poll_at is None:
        return None
    return RefreshWindow(before.last_poll_at, after.updated_at)
