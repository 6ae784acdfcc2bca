"""`python -m bot generate`: one video from the terminal, through the same services the bot uses."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Final

from bot.catalog import Catalog, ModelSpec
from bot.cli.explain import diagnose
from bot.cli.progress import ProgressLine
from bot.domain import DeliveryState, ErrorKind, Job, JobStatus, NewJob, Orientation
from bot.engine import Engine, open_engine
from bot.errors import ExitCode, UserFacingError
from bot.images import sniff_image_type, to_data_uri
from bot.paths import output_file_problem
from bot.services.creation import Ask, Checked
from bot.services.lifecycle import PollPolicy
from bot.settings import Settings

log = logging.getLogger(__name__)

ORIGIN = "cli"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Without --timeout, a job is given up this long after the model's usual time.
TIMEOUT_MARGIN_MINUTES: Final = 5.0
# How often the store is read for jobs another process (a second `generate`) finished and delivered.
ELSEWHERE_CHECK_SECONDS: Final = 2.0
_EXIT_FOR_KIND = {
    ErrorKind.UNAVAILABLE: ExitCode.UNREACHABLE,
    ErrorKind.UNCONFIRMED: ExitCode.UNREACHABLE,
    ErrorKind.AUTH: ExitCode.USAGE,
    ErrorKind.MODEL_UNAVAILABLE: ExitCode.USAGE,
}
DESCRIPTION: Final = """\
Submits one job, shows its progress and writes the verified MP4 to --out. Paths are checked before anything is
sent. Ctrl-C or SIGTERM stops waiting; the job keeps running on the gateway (and is billed) and the next
`generate` (or `generate --resume`, which sends nothing new) follows it and saves it in RESULTS_DIR.

exit codes:
  0    the video was saved (with --resume: every job followed was saved)
  1    the job failed, was refused by the provider, or was given up after --timeout (the reason is printed)
  2    bad usage or configuration: arguments, DATABASE_PATH, RESULTS_DIR, --out, a key the gateway rejects,
       a GATEWAY_BASE_URL that answers with a web page or "Invalid URL", a model the gateway does not serve
  3    the gateway cannot be reached (connection refused, no DNS, no answer) or keeps failing
  130  stopped by Ctrl-C;  143  stopped by SIGTERM
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `generate` command's options."""
    parser.add_argument("prompt", nargs="?", help="what the video should show")
    parser.add_argument("--model", help="a model from the catalog (default: the first one the gateway serves)")
    parser.add_argument("--orientation", choices=[o.value for o in Orientation], default=Orientation.LANDSCAPE.value)
    parser.add_argument("--duration", type=int, help="seconds (default: the model's default)")
    parser.add_argument("--hd", action="store_true", help="HD upsampling, where the model offers it")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE_OR_URL",
        help="a reference image; repeat for more (models that fetch images need http(s) URLs)",
    )
    parser.add_argument(
        "--last-frame",
        metavar="FILE_OR_URL",
        help="the picture the video ends on, for models that take one",
    )
    parser.add_argument("--out", type=Path, metavar="FILE.mp4", help="where to write the video (needed with a prompt)")
    parser.add_argument(
        "--timeout",
        type=_minutes,
        metavar="MINUTES",
        help=f"give up waiting this long after the submit (default: the model's usual time plus "
        f"{TIMEOUT_MARGIN_MINUTES:g} minutes)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="send nothing new: follow the jobs an earlier run left (stopped with Ctrl-C) and save them",
    )


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = 0.0
    if not minutes > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {value!r}")
    return minutes


async def run(args: argparse.Namespace, settings: Settings, catalog: Catalog) -> int:
    """Submit, follow and save one video (or, with --resume, the jobs an earlier run left); return the exit code."""
    stop = _Stop(asyncio.current_task())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.fire, signum)
    try:
        return await _run(args, settings, catalog, stop)
    except asyncio.CancelledError:
        if stop.signum is None:
            raise
        stop.uncancel()
        _say(f"Stopped ({stop.name}) before anything was sent to the gateway; nothing is billed.")
        return stop.exit_code
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _run(args: argparse.Namespace, settings: Settings, catalog: Catalog, stop: _Stop) -> int:
    if args.prompt is None and not args.resume:
        _say("Give a PROMPT, or --resume to follow the jobs an earlier run left.")
        return ExitCode.USAGE
    problem = output_file_problem(args.out) if args.out is not None else None
    if args.out is None and not args.resume:
        problem = "--out FILE.mp4 is required: where to write the video"
    if problem is not None:
        _say(problem)
        return ExitCode.USAGE
    try:
        images = [_load_image(value) for value in args.image]
        last_frame = _load_image(args.last_frame) if args.last_frame else None
    except UserFacingError as exc:
        _say(exc.user_message)
        return ExitCode.USAGE
    async with open_engine(settings, catalog) as engine:
        await engine.models.refresh()
        error = engine.models.last_error
        if error is not None:
            diagnosis = diagnose(error, settings.gateway_base_url)
            _say(f"Nothing was sent: {diagnosis.text}.")
            return diagnosis.code
        left = await _left_by_earlier_runs(engine)
        if args.resume:
            return await _follow(engine, None, args, left, stop)
        try:
            ask = Ask(
                prompt=args.prompt,
                model=args.model,
                orientation=Orientation(args.orientation),
                duration=args.duration,
                hd=args.hd,
                images=images,
                last_frame=last_frame,
            )
            checked = await engine.creation.check(ask, who=None)
        except UserFacingError as exc:
            _say(exc.user_message)
            return ExitCode.USAGE
        return await _follow(engine, checked, args, left, stop)


async def _left_by_earlier_runs(engine: Engine) -> list[Job]:
    """Unfinished or undelivered jobs of this command from earlier runs (stopped with Ctrl-C, or cut off)."""
    return await engine.store.in_progress_of_origin(ORIGIN)


def _policy(engine: Engine, args: argparse.Namespace, spec: ModelSpec | None) -> tuple[PollPolicy, float]:
    """The engine's polling rules with this command's time limit: --timeout, or the model's usual time plus a margin."""
    if args.timeout is not None:
        minutes = float(args.timeout)
    else:
        usual = spec.usual_minutes if spec else max(s.usual_minutes for s in engine.models.catalog)
        minutes = usual + TIMEOUT_MARGIN_MINUTES
    return dataclasses.replace(engine.policy, timeout_after_seconds=minutes * 60), minutes


async def _follow(
    engine: Engine, checked: Checked | None, args: argparse.Namespace, left: list[Job], stop: _Stop
) -> int:
    progress = ProgressLine()
    waiting = {job.id for job in left}
    finished: dict[str, Job] = {}
    all_done = asyncio.Event()
    mine: list[str] = []
    policy, minutes = _policy(engine, args, checked.spec if checked else None)

    def tell(text: str) -> None:
        progress.interject(text, sys.stdout)

    async def deliver(job: Job) -> int | None:
        if job.id in waiting:
            waiting.discard(job.id)
            finished[job.id] = job
            if not mine or job.id != mine[0]:
                tell(_earlier_outcome(job, minutes))
        if not waiting:
            all_done.set()
        return None

    async def on_change(job: Job, became_slow: bool) -> None:
        if job.id in waiting and not job.status.is_terminal:
            label = "" if mine and job.id == mine[0] else f"job {job.id}"
            progress.show(job, engine.clock(), "taking longer than usual" if job.slow_notified else label)

    poller = engine.poller(origin=ORIGIN, deliver=deliver, on_change=on_change, policy=policy)
    if left:
        tell(f"Following {len(left)} job(s) an earlier run left: {', '.join(job.id for job in left)}.")
    elif checked is None:
        _say("No job of an earlier run is left to follow.")
        return ExitCode.OK
    if checked is not None:
        # The submit is not cut off by a signal: a create sent and not awaited may be billed and never seen.
        stop.shield = True
        job = (await engine.creation.submit(checked, NewJob(request=checked.request, origin=ORIGIN))).job
        stop.shield = False
        mine.append(job.id)
        if job.status is JobStatus.FAILED:
            _say(f"The job was not accepted: {job.error_message}")
            return _EXIT_FOR_KIND.get(job.error_kind or ErrorKind.GENERATION_FAILED, ExitCode.JOB_FAILED)
        waiting.add(job.id)
        _say(f"Job {job.id} accepted by the gateway as task {job.task_id}; waiting up to {minutes:g} minutes.")
        progress.show(job, engine.clock())
    polling = asyncio.create_task(poller.run())
    try:
        if stop.signum is not None:
            raise asyncio.CancelledError
        while not all_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done.wait(), ELSEWHERE_CHECK_SECONDS)
            for job_id in sorted(waiting):
                stored = await engine.store.get(job_id)
                if stored is not None and stored.delivery_state is DeliveryState.DELIVERED:
                    await deliver(stored)  # another `generate` delivered it
        await poller.drain(grace=10)  # let the deliveries be recorded
    except asyncio.CancelledError:
        if stop.signum is None:
            raise
        stop.uncancel()
        progress.finish()
        _say(_stopped(stop, [*mine, *sorted(waiting - set(mine))], engine))
        return stop.exit_code
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        progress.finish()
    if not mine:
        failed = [job for job in finished.values() if job.status is not JobStatus.SUCCEEDED]
        return ExitCode.JOB_FAILED if failed else ExitCode.OK
    return _save(finished[mine[0]], args.out, minutes)


def _stopped(stop: _Stop, ids: list[str], engine: Engine) -> str:
    if not ids:
        return f"Stopped ({stop.name})."
    return (
        f"Stopped ({stop.name}). Job {', '.join(ids)} keeps running on the gateway, which bills it whether or not "
        "it is fetched. It is kept in the database: the next `python -m bot generate` (or "
        "`python -m bot generate --resume`, which sends nothing new) follows it and saves the video in "
        f"{engine.settings.results_dir}."
    )


def _earlier_outcome(job: Job, minutes: float) -> str:
    if job.status is JobStatus.SUCCEEDED and job.result_path is not None:
        return f"Job {job.id} from an earlier run finished: its video is at {job.result_path}."
    return f"Job {job.id} from an earlier run {_failure(job, minutes)}"


def _save(done: Job, out: Path, minutes: float) -> int:
    if done.status is not JobStatus.SUCCEEDED or done.result_path is None:
        _say(f"Job {done.id} {_failure(done, minutes)}")
        return _EXIT_FOR_KIND.get(done.error_kind or ErrorKind.GENERATION_FAILED, ExitCode.JOB_FAILED)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(done.result_path, out)
    except OSError as exc:
        _say(f"The video is ready but could not be written to {out}: {exc.strerror}. It is kept at {done.result_path}.")
        return ExitCode.USAGE
    _say(f"Saved {out} ({done.result_bytes or 0:,} bytes, job {done.id}).")
    return ExitCode.OK


def _failure(job: Job, minutes: float) -> str:
    if job.error_kind is not ErrorKind.TIMED_OUT:
        return f"failed: {job.error_message}"
    seen = (
        "no poll of it was answered (the gateway could not be reached or kept failing; -v shows each error)"
        if job.poll_count == 0
        else f"it was last seen {job.remote_status or 'queued'} at {job.progress or 0}%"
    )
    return (
        f"was given up after {minutes:g} minutes (--timeout): {seen}. Nothing was saved, and no Reelbot credits "
        f"are held for it. The gateway charged for task {job.task_id} when it accepted it: it refunds it if the "
        "task fails there (at the latest at its own 24-hour limit), and bills it if the task finishes."
    )


class _Stop:
    """SIGINT or SIGTERM: cancel the command, except while a submit is on the wire (it ends first)."""

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self._task = task
        self.signum: int | None = None
        self.shield = False

    def fire(self, signum: int) -> None:
        """Note the first signal and cancel the command, unless a submit is under way."""
        if self.signum is not None:
            return
        self.signum = signum
        if not self.shield and self._task is not None:
            self._task.cancel()

    def uncancel(self) -> None:
        """The cancellation was ours and is handled: the command ends normally with the signal's exit code."""
        if self._task is not None:
            self._task.uncancel()

    @property
    def name(self) -> str:
        """Ctrl-C or SIGTERM."""
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum or signal.SIGTERM).name

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM, as a shell reports a process ended by them."""
        return ExitCode.INTERRUPTED if self.signum == signal.SIGINT else ExitCode.TERMINATED


def _load_image(value: str) -> str:
    if value.startswith(("http://", "https://")):
        return value
    path = Path(value)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserFacingError(f"Cannot read the image {value}: {exc.strerror}.") from exc
    if len(data) > MAX_IMAGE_BYTES:
        raise UserFacingError(
            f"The image {value} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB. Use a smaller one."
        )
    mime = sniff_image_type(data)
    if mime is None:
        raise UserFacingError(f"{value} is not a PNG, JPEG, WebP or GIF picture.")
    return to_data_uri(data, mime)


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
