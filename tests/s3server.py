"""A real S3 API on loopback for the tests: moto's server in a subprocess, and buckets made in it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiobotocore.session import get_session

from tests.helpers import free_port

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

START_SECONDS = 60.0  # moto imports a lot; on a loaded box it can take a while to listen
# moto checks no signature: any key pair is accepted, as long as the bot signs with one.
ACCESS_KEY_ID = "reelbot-test-key-id"
SECRET_ACCESS_KEY = "reelbot-test-secret-key-0123456789"


@contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """Run moto's S3 server on a free loopback port until the block ends; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (log_dir / "moto.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
    try:
        _wait_listening(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto's server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not listen on {url} within {START_SECONDS:g} s")


class Gate:
    """A loopback relay in front of the S3 server: shut, it refuses connections and cuts the open ones, as a store
    that is down; opened again on the same port, the store is back with everything it held."""

    def __init__(self, endpoint: str) -> None:
        target = urlsplit(endpoint)
        self._target = (target.hostname or "127.0.0.1", target.port or 80)
        self._port = free_port()
        self.url = f"http://127.0.0.1:{self._port}"
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        """Relay connections to the S3 server."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self._port)

    async def shut(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for stream in self._streams:
            stream.transport.abort()
        self._streams.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._streams.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._streams.difference_update((writer, up_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@asynccontextmanager
async def gate(endpoint: str) -> AsyncIterator[Gate]:
    """An open Gate in front of ``endpoint``, shut at the end."""
    relay = Gate(endpoint)
    await relay.open()
    try:
        yield relay
    finally:
        await relay.shut()


def bucket_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The settings that put results in ``bucket`` at ``endpoint``."""
    return {
        "MEDIA_S3_BUCKET": bucket,
        "MEDIA_S3_ENDPOINT": endpoint,
        "MEDIA_S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MEDIA_S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }


@asynccontextmanager
async def s3_client(endpoint: str) -> AsyncIterator[S3Client]:
    """A client of the test server, for the tests' own looks into a bucket."""
    async with get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    ) as client:
        yield client


async def new_bucket(endpoint: str) -> str:
    """Make an empty bucket with a name no other test uses."""
    name = f"reelbot-{uuid.uuid4().hex[:12]}"
    async with s3_client(endpoint) as client:
        await client.create_bucket(Bucket=name)
    return name


async def keys(endpoint: str, bucket: str) -> set[str]:
    """The keys in ``bucket``."""
    async with s3_client(endpoint) as client:
        answer = await client.list_objects_v2(Bucket=bucket)
        return {item["Key"] for item in answer.get("Contents", []) if "Key" in item}


async def object_bytes(endpoint: str, bucket: str, key: str) -> bytes:
    """One object's content."""
    async with s3_client(endpoint) as client:
        answer = await client.get_object(Bucket=bucket, Key=key)
        async with answer["Body"] as stream:
            return await stream.read()
