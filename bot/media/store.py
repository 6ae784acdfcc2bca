"""Where finished videos live: RESULTS_DIR on this machine, or an S3-compatible bucket that several machines share.

Either way the files are made in a local working folder (RESULTS_DIR: ffmpeg needs files), named as in
bot.media.retention. ``LocalMedia`` keeps them there and links them through the built-in media server;
``BucketMedia`` uploads each finished file under the same name as its key, links presigned bucket URLs, fetches a file
a process does not have, and applies retention and takedowns to the objects (and to its working copies).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Final, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from bot.media import retention
from bot.media.retention import Entry, SweepReport
from bot.media.server import MediaLinks, content_type
from bot.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

JobIds = Collection[str]

CHUNK_BYTES: Final = 1024 * 1024
DELETE_BATCH: Final = 1000  # the most keys S3's DeleteObjects takes at once
_CONNECT_SECONDS: Final = 10.0
_READ_SECONDS: Final = 60.0
# Errors S3-compatible stores answer for what the operator must fix, in plain words.
_CLIENT_ERRORS: Final = {
    "NoSuchBucket": "the bucket does not exist: create it, or correct MEDIA_S3_BUCKET",
    "AccessDenied": "the key may not use the bucket: it needs GetObject, PutObject, DeleteObject and ListBucket",
    "InvalidAccessKeyId": "the store does not know MEDIA_S3_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "MEDIA_S3_SECRET_ACCESS_KEY does not match MEDIA_S3_ACCESS_KEY_ID",
    "AuthorizationHeaderMalformed": "the request was refused as signed for another region: check MEDIA_S3_REGION",
    "PermanentRedirect": "the bucket is in another region: check MEDIA_S3_REGION",
}


class MediaStoreError(Exception):
    """The bucket could not be used; the message says what happened in plain words."""


class MediaStore(Protocol):
    """Keeps a job's finished files (``{job}.mp4``, ``{job}.fit.mp4``, ``{job}.poster.jpg``) and links them."""

    working_dir: Path

    @property
    def served_links(self) -> MediaLinks | None:
        """The links the built-in media server must serve, or None when it is not needed."""

    def describe(self) -> str:
        """Where the files go, for the log and `check`."""

    async def check(self) -> None:
        """Raise MediaStoreError unless files can be stored, read and deleted."""

    async def publish(self, job_id: str, path: Path) -> None:
        """Make a finished file in the working folder available to every process."""

    async def fetch(self, job_id: str, suffix: str) -> Path | None:
        """The job's file with ``suffix`` in the working folder, brought there if it is stored elsewhere; None if
        it is nowhere."""

    async def link(self, job_id: str, path: Path, ttl_seconds: float) -> str | None:
        """A link to one of the job's files that works for ``ttl_seconds``, or None when there is no way to link."""

    async def remove_job(self, job_id: str) -> None:
        """Delete every file of the job (its video was taken down); MediaStoreError if some could not be deleted."""

    async def sweep(
        self, *, max_age_seconds: float, max_bytes: int, now: float, protected: JobIds, taken_down: JobIds = ()
    ) -> SweepReport:
        """Delete what retention says is too old or taken down, then the oldest while over ``max_bytes``."""


class LocalMedia:
    """Files stay in RESULTS_DIR; links (when MEDIA_PUBLIC_URL is set) point at the built-in media server."""

    def __init__(self, results_dir: Path, links: MediaLinks | None = None) -> None:
        self.working_dir = results_dir
        self._links = links

    @property
    def served_links(self) -> MediaLinks | None:
        """The media server's links, if it is on."""
        return self._links

    def describe(self) -> str:
        """The folder."""
        return f"results directory {self.working_dir}"

    async def check(self) -> None:
        """The folder is checked with the other paths (bot.paths)."""

    async def publish(self, job_id: str, path: Path) -> None:
        """Nothing to do: the file is already where it is served from."""

    async def fetch(self, job_id: str, suffix: str) -> Path | None:
        """The file, if it is in the folder."""
        path = self.working_dir / f"{job_id}{suffix}"
        return path if _is_file(path) else None

    async def link(self, job_id: str, path: Path, ttl_seconds: float) -> str | None:
        """A signed media-server link, when the server is on and the file is there."""
        if self._links is None or not _is_file(path):
            return None
        return self._links.link(job_id, path, ttl_seconds)

    async def remove_job(self, job_id: str) -> None:
        """Delete the job's files from the folder."""
        await retention.remove_job(self.working_dir, job_id)

    async def sweep(
        self, *, max_age_seconds: float, max_bytes: int, now: float, protected: JobIds, taken_down: JobIds = ()
    ) -> SweepReport:
        """Retention over the folder."""
        return await retention.sweep(
            self.working_dir,
            max_age_seconds=max_age_seconds,
            max_bytes=max_bytes,
            now=now,
            protected=protected,
            taken_down=taken_down,
        )


class BucketMedia:
    """Files in an S3-compatible bucket, keyed by their names; the working folder keeps copies to work on."""

    def __init__(self, client: S3Client, bucket: str, working_dir: Path, where: str) -> None:
        self.working_dir = working_dir
        self._copies = LocalMedia(working_dir)  # the working copies, kept as RESULTS_DIR is without a bucket
        self._client = client
        self._bucket = bucket
        self._where = where

    @property
    def served_links(self) -> MediaLinks | None:
        """None: links are presigned bucket URLs."""
        return None

    def describe(self) -> str:
        """The bucket and its store."""
        return f"bucket {self._bucket} at {self._where}"

    async def check(self) -> None:
        """Write, read back and delete a small object."""
        key = f".reelbot-check-{secrets.token_hex(6)}"
        body = b"reelbot check\n"
        async with self._errors("store a test object in"):
            await self._client.put_object(Bucket=self._bucket, Key=key, Body=body)
        try:
            async with self._errors("read a test object back from"):
                answer = await self._client.get_object(Bucket=self._bucket, Key=key)
                async with answer["Body"] as stream:
                    if await stream.read() != body:
                        raise MediaStoreError(f"the {self.describe()} gave back other bytes than were stored")
        finally:
            async with self._errors("delete a test object from"):
                await self._client.delete_object(Bucket=self._bucket, Key=key)

    async def publish(self, job_id: str, path: Path) -> None:
        """Upload the file under its name."""
        kind = content_type(job_id, path.name)
        if kind is None:
            raise ValueError(f"{path.name!r} is not a file job {job_id!r} owns")
        async with self._errors(f"upload {path.name} to"):
            with path.open("rb") as body:
                await self._client.put_object(Bucket=self._bucket, Key=path.name, Body=body, ContentType=kind)
        log.info("Job %s: %s uploaded to the %s", job_id, path.name, self.describe())

    async def fetch(self, job_id: str, suffix: str) -> Path | None:
        """The working copy, downloaded from the bucket when this process does not have it."""
        dest = self.working_dir / f"{job_id}{suffix}"
        if _is_file(dest):
            return dest
        partial = dest.with_name(f"{dest.name}.{secrets.token_hex(4)}.part")
        try:
            async with self._errors(f"download {dest.name} from"):
                try:
                    answer = await self._client.get_object(Bucket=self._bucket, Key=dest.name)
                except ClientError as exc:
                    if _code(exc) in ("NoSuchKey", "404"):
                        return None
                    raise
                dest.parent.mkdir(parents=True, exist_ok=True)
                async with answer["Body"] as stream:
                    with partial.open("wb") as out:
                        while chunk := await stream.read(CHUNK_BYTES):
                            out.write(chunk)
                os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        log.info("Job %s: %s fetched from the %s", job_id, dest.name, self.describe())
        return dest

    async def link(self, job_id: str, path: Path, ttl_seconds: float) -> str | None:
        """A presigned GET of the object, valid for ``ttl_seconds``; a file kept only here (downloaded before the
        bucket was set, or whose upload failed) is uploaded first."""
        if content_type(job_id, path.name) is None:
            raise ValueError(f"{path.name!r} is not a file job {job_id!r} owns")
        if not await self._has(path.name):
            if not _is_file(path):
                return None
            await self.publish(job_id, path)
        return await self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": path.name}, ExpiresIn=math.ceil(ttl_seconds)
        )

    async def remove_job(self, job_id: str) -> None:
        """Delete the job's working copies, then its objects (the copies go even when the bucket fails)."""
        await self._copies.remove_job(job_id)
        failed = await self._delete([f"{job_id}{suffix}" for suffix in retention.JOB_FILE_SUFFIXES])
        if failed:
            raise MediaStoreError(f"the {self.describe()} would not delete {', '.join(failed)}")

    async def sweep(
        self, *, max_age_seconds: float, max_bytes: int, now: float, protected: JobIds, taken_down: JobIds = ()
    ) -> SweepReport:
        """Retention over the bucket's objects, then over the working copies under the same limits."""
        chosen: list[Entry] = []

        def choose(entries: list[Entry]) -> list[Entry]:
            chosen.extend(entries)
            return []

        report = retention.select(await self._objects(), max_age_seconds, max_bytes, now, protected, choose, taken_down)
        failed = await self._delete([entry.path.name for entry in chosen])
        retention.log_report(report, f"the {self.describe()}")
        if failed:
            log.warning("Retention: %d objects could not be deleted from the %s", len(failed), self.describe())
        for job_id in report.deleted_jobs:
            await self._copies.remove_job(job_id)
        await self._copies.sweep(
            max_age_seconds=max_age_seconds, max_bytes=max_bytes, now=now, protected=protected, taken_down=taken_down
        )
        return report

    async def _has(self, key: str) -> bool:
        async with self._errors(f"look for {key} in"):
            try:
                await self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404"):
                    return False
                raise
        return True

    async def _objects(self) -> list[Entry]:
        entries = []
        async with self._errors("list the objects of"):
            async for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
                for item in page.get("Contents", []):
                    if "Key" in item and "Size" in item and "LastModified" in item:
                        entries.append(
                            Entry(PurePosixPath(item["Key"]), item["Size"], item["LastModified"].timestamp())
                        )
        return entries

    async def _delete(self, keys: list[str]) -> list[str]:
        """Delete ``keys`` (missing ones count as deleted); returns those the store would not delete."""
        failed: list[str] = []
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            async with self._errors("delete objects from"):
                answer = await self._client.delete_objects(
                    Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            for error in answer.get("Errors", []):
                log.warning("Could not delete %s from the %s: %s", error.get("Key"), self.describe(), error.get("Code"))
                failed.append(str(error.get("Key")))
        return failed

    @asynccontextmanager
    async def _errors(self, doing: str) -> AsyncIterator[None]:
        """Turn the client's errors into MediaStoreError saying what failed and why."""
        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            reason = _CLIENT_ERRORS.get(code, f"the store answered {code or 'an error'}")
            raise MediaStoreError(f"could not {doing} the {self.describe()}: {reason}") from exc
        except (TimeoutError, BotoCoreError, OSError) as exc:
            raise MediaStoreError(f"could not {doing} the {self.describe()}: {_transport_reason(exc)}") from exc


@asynccontextmanager
async def open_media_store(settings: Settings, links: MediaLinks | None = None) -> AsyncIterator[MediaStore]:
    """The store the settings describe: the bucket when MEDIA_S3_BUCKET is set, else RESULTS_DIR with ``links``."""
    if settings.media_s3_bucket is None:
        yield LocalMedia(settings.results_dir, links)
        return
    config = AioConfig(
        connect_timeout=_CONNECT_SECONDS,
        read_timeout=_READ_SECONDS,
        retries={"max_attempts": 3, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": "path" if settings.media_s3_endpoint else "auto"},
    )
    async with get_session().create_client(
        "s3",
        region_name=settings.media_s3_region,
        endpoint_url=settings.media_s3_endpoint,
        aws_access_key_id=settings.media_s3_access_key_id,
        aws_secret_access_key=settings.media_s3_secret_access_key,
        config=config,
    ) as client:
        where = settings.media_s3_endpoint or f"AWS S3 ({settings.media_s3_region})"
        yield BucketMedia(client, settings.media_s3_bucket, settings.results_dir, where)


def _is_file(path: Path) -> bool:
    """Whether a regular file is there (a local stat: no need to leave the event loop)."""
    return path.is_file()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _transport_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the store did not answer in time"
    name = type(exc).__name__
    if "Endpoint" in name or "Connect" in name:
        return "the store cannot be reached: check MEDIA_S3_ENDPOINT and that it is running"
    if "Credential" in name:
        return "the credentials are missing or unusable: check MEDIA_S3_ACCESS_KEY_ID and MEDIA_S3_SECRET_ACCESS_KEY"
    return f"{name} ({exc})"
