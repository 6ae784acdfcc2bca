"""What a finished video's post carries: the file itself, a copy re-encoded to fit, or a link, with its poster.

Files in the media store's working folder (RESULTS_DIR): ``{job}.mp4`` (the original, kept), ``{job}.fit.mp4``
(fitted to an upload limit) and ``{job}.poster.jpg`` (the first frame). A poster or fitted copy made here is published
to the store (a bucket, when there is one), and one this process lacks is fetched from it before being made again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import discord

from bot.domain import Job
from bot.engine import Engine
from bot.front import private, render
from bot.front.buttons import result_view
from bot.locales import translate
from bot.media.ffmpeg import Encoder, MediaError
from bot.media.probe import VideoInfo
from bot.media.store import MediaStore, MediaStoreError

log = logging.getLogger(__name__)

POSTER_NAME: Final = "poster.jpg"


@dataclass(slots=True)
class Prepared:
    """The pieces of a result post; ``video`` is None when the post carries a link or an explanation instead."""

    kind: str  # posted, compressed, linked or explained (the delivery metric's label)
    text: str
    video: Path | None
    embeds: list[discord.Embed] = field(default_factory=list)
    poster: Path | None = None

    def files(self) -> list[discord.File]:
        """Fresh file objects for one send (a discord.File can only be sent once)."""
        return [discord.File(self.poster, filename=POSTER_NAME)] if self.poster is not None else []

    def post(self, job: Job) -> dict[str, Any]:
        """The fields of one send of this post (fresh files each time); a video comes with its buttons."""
        fields: dict[str, Any] = {"content": self.text, "embeds": self.embeds, "files": self.files()}
        if self.video is not None:
            fields["files"].insert(0, discord.File(self.video, filename=f"reelbot-{job.id}.mp4"))
            fields["view"] = result_view(job)
        return fields


class ResultFiles:
    """Prepares a finished job's post for a given upload limit."""

    @classmethod
    def of(cls, engine: Engine) -> ResultFiles:
        """The result files of an engine's media store, linked for MEDIA_LINK_HOURS."""
        return cls(Encoder(), engine.media, engine.settings.media_link_hours * 3600)

    def __init__(self, encoder: Encoder, media: MediaStore, link_ttl_seconds: float) -> None:
        self._encoder = encoder
        self._media = media
        self._ttl = link_ttl_seconds

    async def prepare(self, job: Job, limit_bytes: int) -> Prepared:
        """Attach the original when it fits; otherwise a copy re-encoded to fit; otherwise link or explain."""
        original = Path(job.result_path or "")
        if _size(original) is None:  # downloaded by another process: the store has it
            original = await self._media.fetch(job.id, ".mp4") or original
        size = _size(original) or job.result_bytes or 0
        info = await self._probe(original)
        poster = await self._poster(job, original)
        if poster is not None and (_size(poster) or 0) > limit_bytes:
            poster = None  # Discord checks every attached file against the limit, the poster too
        full_link = await self._link(job, original)
        if size <= limit_bytes:
            return Prepared("posted", render.result_text(job), original, [_details(job, info, size, poster)], poster)
        fitted = await self._fit(job, original, limit_bytes)
        if fitted is not None:
            path, fitted_info = fitted
            note = render.compressed_note(job, size, limit_bytes, full_link)
            embed = _details(job, fitted_info, _size(path) or 0, poster)
            return Prepared("compressed", f"{render.result_text(job)}\n{note}", path, [embed], poster)
        if full_link is not None:
            details = [_details(job, info, size, poster)]
            return Prepared("linked", render.linked_text(job, full_link), None, details, poster)
        return Prepared("explained", render.too_large_text(job, limit_bytes), None)

    async def link(self, job: Job) -> str | None:
        """A link to the job's original video for the link lifetime (MEDIA_LINK_HOURS), if there is a way to link."""
        return await private.signed_link(self._media, job, self._ttl)

    async def _probe(self, path: Path) -> VideoInfo | None:
        try:
            return await self._encoder.probe(path)
        except MediaError as exc:
            log.warning("Could not read %s: %s", path.name, exc)
            return None

    async def _poster(self, job: Job, original: Path) -> Path | None:
        dest = original.with_name(f"{job.id}.poster.jpg")
        if dest.is_file():
            return dest
        stored = await self._stored(job, ".poster.jpg")
        if stored is not None:
            return stored
        try:
            made = await self._encoder.poster(original, dest)
        except MediaError as exc:
            log.warning("Job %s: no poster frame: %s", job.id, exc)
            return None
        await self._share(job, made)
        return made

    async def _fit(self, job: Job, original: Path, limit_bytes: int) -> tuple[Path, VideoInfo] | None:
        dest = original.with_name(f"{job.id}.fit.mp4")
        if not dest.is_file():
            dest = await self._stored(job, ".fit.mp4") or dest
        try:
            fitted_size = _size(dest)
            if fitted_size is not None and fitted_size <= limit_bytes:
                return dest, await self._encoder.probe(dest)  # fitted on an earlier attempt
            result = await self._encoder.fit(original, dest, limit_bytes)
        except MediaError as exc:
            log.warning("Job %s: could not fit the video under %d bytes: %s", job.id, limit_bytes, exc)
            return None
        log.info("Job %s: re-encoded to %s bytes in %d attempt(s)", job.id, _size(result.path), result.attempts)
        await self._share(job, result.path)
        return result.path, result.info

    async def _stored(self, job: Job, suffix: str) -> Path | None:
        """A poster or fitted copy another process made, if the store has it (else it is made here)."""
        try:
            return await self._media.fetch(job.id, suffix)
        except MediaStoreError as exc:
            log.warning("Job %s: %s; making it here", job.id, exc)
            return None

    async def _share(self, job: Job, path: Path) -> None:
        """Publish a poster or fitted copy made here; the post does not wait on the store for it."""
        try:
            await self._media.publish(job.id, path)
        except MediaStoreError as exc:
            log.warning("Job %s: %s; other processes will make their own", job.id, exc)

    async def _link(self, job: Job, original: Path) -> str | None:
        if _size(original) is None:
            return None
        return await self._media.link(job.id, original, self._ttl)


def _size(path: Path) -> int | None:
    """A file's size, or None when it is not there (a local stat: no need to leave the event loop)."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def _details(job: Job, info: VideoInfo | None, size: int, poster: Path | None) -> discord.Embed:
    locale = job.post_locale
    embed = discord.Embed(colour=render.COLOUR_DONE)
    if info is not None:
        length = translate(locale, "{seconds} s", seconds=f"{info.duration_seconds:.1f}")
        embed.add_field(name=translate(locale, "Length"), value=length)
        embed.add_field(name=translate(locale, "Resolution"), value=f"{info.width}x{info.height}")
    embed.add_field(name=translate(locale, "Size"), value=render.mib(size))
    embed.set_footer(text=translate(locale, "Job {job_id}", job_id=job.id) + f" · {job.model}")
    if poster is not None:
        embed.set_image(url=f"attachment://{POSTER_NAME}")
    return embed
