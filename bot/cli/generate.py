"""`python -m bot generate`: one video from the terminal, through the same services the bot uses."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
from pathlib import Path

from bot.catalog import Catalog
from bot.cli import ExitCode
from bot.cli.progress import ProgressLine
from bot.domain import ErrorKind, Job, JobStatus, NewJob, Orientation
from bot.engine import Engine, open_engine
from bot.errors import UserFacingError
from bot.images import sniff_image_type, to_data_uri
from bot.services.creation import Ask, Checked
from bot.settings import Settings

log = logging.getLogger(__name__)

ORIGIN = "cli"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_EXIT_FOR_KIND = {
    ErrorKind.UNAVAILABLE: ExitCode.UNREACHABLE,
    ErrorKind.UNCONFIRMED: ExitCode.UNREACHABLE,
    ErrorKind.AUTH: ExitCode.USAGE,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `generate` command's options."""
    parser.add_argument("prompt", help="what the video should show")
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
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.mp4", help="where to write the video")


async def run(args: argparse.Namespace, settings: Settings, catalog: Catalog) -> int:
    """Submit, follow and save one video; return the exit code."""
    try:
        images = [_load_image(value) for value in args.image]
        last_frame = _load_image(args.last_frame) if args.last_frame else None
    except UserFacingError as exc:
        _say(exc.user_message)
        return ExitCode.USAGE
    async with open_engine(settings, catalog) as engine:
        await engine.models.refresh()
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
        return await _follow(engine, checked, args.out)


async def _follow(engine: Engine, checked: Checked, out: Path) -> int:
    progress = ProgressLine()
    finished: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
    mine: list[str] = []

    async def deliver(job: Job) -> int | None:
        if mine and job.id == mine[0] and not finished.done():
            finished.set_result(job)
        elif job.status is JobStatus.SUCCEEDED:
            log.warning("Job %s from an earlier run finished; its video is at %s", job.id, job.result_path)
        return None

    async def on_change(job: Job, became_slow: bool) -> None:
        if mine and job.id == mine[0]:
            progress.show(job, engine.clock(), "taking longer than usual" if job.slow_notified else "")

    poller = engine.poller(origin=ORIGIN, deliver=deliver, on_change=on_change)
    job = (await engine.creation.submit(checked, NewJob(request=checked.request, origin=ORIGIN))).job
    mine.append(job.id)
    if job.status is JobStatus.FAILED:
        _say(f"The job was not accepted: {job.error_message}")
        return _EXIT_FOR_KIND.get(job.error_kind or ErrorKind.GENERATION_FAILED, ExitCode.JOB_FAILED)
    _say(f"Job {job.id} accepted by the gateway as task {job.task_id}; waiting for the video.")
    progress.show(job, engine.clock())
    polling = asyncio.create_task(poller.run())
    try:
        done = await finished
        await poller.drain(grace=10)  # let the delivery be recorded
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        progress.finish()
    if done.status is not JobStatus.SUCCEEDED or done.result_path is None:
        _say(f"Job {done.id} failed: {done.error_message}")
        return _EXIT_FOR_KIND.get(done.error_kind or ErrorKind.GENERATION_FAILED, ExitCode.JOB_FAILED)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(done.result_path, out)
    except OSError as exc:
        _say(f"The video is ready but could not be written to {out}: {exc.strerror}. It is kept at {done.result_path}.")
        return ExitCode.USAGE
    _say(f"Saved {out} ({done.result_bytes or 0:,} bytes, job {done.id}).")
    return ExitCode.OK


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
