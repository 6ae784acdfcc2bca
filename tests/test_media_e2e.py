"""The bot's media server under abuse: half-sent requests are closed, and connections past the cap are turned away."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devtools.gateway import Simulator
from tests.botproc import WAIT, BotProcess, start_bot
from tests.fakediscord import FakeDiscord
from tests.helpers import eventually, free_port

# The request line and one header, but not the empty line that ends the head: the server waits for more.
PARTIAL_HEAD = b"GET /media/v/abcd2345/abcd2345.mp4 HTTP/1.1\r\nHost: bot.example.com\r\nX-Slow: "


async def media_bot(fake: FakeDiscord, sim: Simulator, tmp_path: Path, **env: str) -> tuple[BotProcess, int]:
    """The bot with its media server on a free port; returns the process and the port."""
    port = free_port()
    media = {"MEDIA_PUBLIC_URL": f"http://127.0.0.1:{port}/media", "MEDIA_LISTEN": f"127.0.0.1:{port}"}
    return await start_bot(fake, sim, tmp_path, **media, **env), port


class Client:
    """One raw connection that sends a partial request head and reads whatever comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.answer = b""
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(PARTIAL_HEAD)
        await writer.drain()
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while chunk := await self.reader.read(65536):
                self.answer += chunk
        except ConnectionError:
            pass
        self.closed.set()

    async def finish_request(self) -> None:
        """Send the rest of the head: the server answers (here 403, as the link carries no signature)."""
        self.writer.write(b"1\r\n\r\n")
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """The test's raw connections, closed at the end whatever happened."""
    opened: list[Client] = []
    yield opened
    await asyncio.gather(*(client.close() for client in opened))


async def test_half_sent_requests_are_closed_after_the_header_timeout(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, clients: list[Client]
) -> None:
    proc, port = await media_bot(fake, sim, tmp_path, MEDIA_HEADER_TIMEOUT_SECONDS="1")
    async with proc:
        for _ in range(300):
            clients.append(await Client.open(port))
        try:
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*(client.closed.wait() for client in clients))
        except TimeoutError:
            still_open = sum(not client.closed.is_set() for client in clients)
            sys.stderr.write(f"--- bot log ---\n{proc.output()[-5000:]}\n")
            pytest.fail(f"{still_open} of 300 half-sent requests were still open after {WAIT:g} s")
        assert not any(b"200 OK" in client.answer for client in clients)

        # The server still answers whole requests.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /media/v/abcd2345/abcd2345.mp4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), WAIT)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 403")


async def test_connections_past_the_cap_are_turned_away_and_the_others_served(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, clients: list[Client]
) -> None:
    env = {"MEDIA_HEADER_TIMEOUT_SECONDS": "600", "MEDIA_MAX_CONNECTIONS": "20"}
    proc, port = await media_bot(fake, sim, tmp_path, **env)
    async with proc:
        for _ in range(30):
            clients.append(await Client.open(port))
        await eventually(lambda: sum(client.closed.is_set() for client in clients) >= 10, within=WAIT)
        turned_away = [client for client in clients if client.closed.is_set()]
        held = [client for client in clients if not client.closed.is_set()]
        assert len(turned_away) == 10 and len(held) == 20
        assert all(client.answer.startswith(b"HTTP/1.1 503") for client in turned_away)

        for client in held:
            await client.finish_request()
        await eventually(lambda: all(client.answer.startswith(b"HTTP/1.1 403") for client in held), within=WAIT)
        assert not any(client.closed.is_set() for client in held)  # kept alive: the cap counts them still
