"""Run the real `python -m bot` process against the fake Discord and the gateway simulator, and drive it there."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from bot.devtools.gateway import Simulator
from tests.fakediscord import FakeDiscord, InteractionRecord, Message
from tests.helpers import bot_process_env, engine_env, eventually

WAIT = 30.0  # seconds one step of the bot (a reply, a post, a sync) may take
EPHEMERAL = 64  # the message flag of a private reply
WORKER_READY = "Worker: logged in to Discord"  # what a worker logs once its background services start


def bot_env(fake: FakeDiscord, sim: Simulator, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Configuration for a bot process using the fakes, its files under ``tmp_path``."""
    env = engine_env(sim, tmp_path)
    env.update(
        {
            "DISCORD_TOKEN": fake.gateway.token,
            "DISCORD_API_BASE": fake.rest_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "DISCORD_DEV_GUILD_ID": str(fake.guild.id),
        }
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


class BotProcess:
    """One run of `python -m bot [ARGS]`, its output kept in a log file for failing tests to show."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str = "bot", args: Sequence[str] = ()) -> None:
        self._env = env
        self._cwd = cwd
        self._args = tuple(args)
        self.log_path = cwd / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        """Start the process with only the given configuration."""
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *self._args,
                cwd=self._cwd,
                env=bot_process_env(self._env),
                stdout=log,
                stderr=log,
            )
        return self

    async def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash or an OOM kill."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def terminate(self, within: float = 10.0) -> int:
        """SIGTERM, then the exit code; fails if the process takes longer than ``within`` seconds."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout=within)

    async def wait(self, within: float = 60.0) -> int:
        """The exit code of a process that stops by itself."""
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout=within)

    def output(self) -> str:
        """Everything the process printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def __aenter__(self) -> BotProcess:
        return self if self.proc is not None else await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()
        if exc is not None:
            sys.stderr.write(f"--- {self.log_path.name} ---\n{self.output()[-20000:]}\n")


async def start_bot(fake: FakeDiscord, sim: Simulator, tmp_path: Path, **env: str) -> BotProcess:
    """Start the bot and wait until its commands are synced and it is connected."""
    syncs = len(fake.requests_to("PUT", "*/commands"))
    proc = await BotProcess(bot_env(fake, sim, tmp_path, **env), tmp_path, name=f"bot{syncs}").start()
    await fake.wait_for_request("PUT", "*/guilds/*/commands", timeout=WAIT, count=syncs + 1)
    await fake.wait_connected(timeout=WAIT)
    return proc


async def start_worker(
    fake: FakeDiscord, sim: Simulator, tmp_path: Path, name: str = "worker", **env: str
) -> BotProcess:
    """Start `python -m bot worker` and wait until it has logged in to Discord over REST."""
    proc = await BotProcess(bot_env(fake, sim, tmp_path, **env), tmp_path, name=name, args=["worker"]).start()
    assert proc.proc is not None
    running = proc.proc
    await eventually(lambda: WORKER_READY in proc.output() or running.returncode is not None, WAIT)
    assert WORKER_READY in proc.output(), proc.output()
    return proc


def has_video(message: Message) -> bool:
    """Whether a message carries an MP4."""
    return any(a.filename.endswith(".mp4") for a in message.attachments)


def delivered(tmp_path: Path, job_id: str) -> bool:
    """Whether the bot's database (its SQLite file under ``tmp_path``) records the job as delivered."""
    with sqlite3.connect(tmp_path / "reelbot.sqlite3") as db:
        row = db.execute("SELECT delivery_state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row is not None and row[0] == "delivered"


async def private_text(fake: FakeDiscord, rec: InteractionRecord, needle: str) -> str:
    """Wait until the interaction's private reply contains ``needle``; return the reply."""

    def replied() -> bool:
        message = fake.original_message(rec)
        return message is not None and needle in message.content

    await rec.wait_for(lambda _call: replied(), WAIT)
    message = fake.original_message(rec)
    assert message is not None and message.flags & EPHEMERAL
    return message.content


async def create(fake: FakeDiscord, **options: object) -> InteractionRecord:
    """Invoke /video create in the default channel."""
    attachments = options.pop("attachments", ())
    return await fake.invoke_slash(channel_id=fake.channel().id, options=options, attachments=attachments)  # type: ignore[arg-type]
