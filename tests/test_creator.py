"""The Discord creation flow with Discord stood in for: what the member is told once their job is accepted."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.domain import Job, Orientation
from bot.engine import Engine
from bot.front.creation import CreateInput, Creator
from bot.front.i18n import Locales
from bot.front.replies import confirm_created
from bot.services.moderation import Requester
from bot.services.quotas import QuotaStatus

GUILD, USER, CHANNEL = 10, 20, 30
MEMBER = Requester(guild_id=GUILD, user_id=USER, channel_id=CHANNEL, role_ids=frozenset())


class StatusMessage:
    """The posted status message, as much of it as the flow reads."""

    id = 77
    attachments: list[discord.Attachment] = []
    jump_url = f"https://discord.com/channels/{GUILD}/{CHANNEL}/77"
    channel = object()  # not a text channel: no thread is opened

    async def edit(self, **fields: Any) -> None:
        """The Cancel button goes on; nothing to record."""


class Channel:
    id = CHANNEL

    async def send(self, **fields: Any) -> StatusMessage:
        return StatusMessage()


class Audit:
    def __init__(self) -> None:
        self.submitted_jobs: list[str] = []

    def submitted(self, job: Job, link: str) -> None:
        self.submitted_jobs.append(job.id)


async def test_a_job_is_acknowledged_as_accepted_even_when_the_credits_left_cannot_be_read(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await engine.models.refresh()
    audit = Audit()
    creator = Creator(engine, discord.Client(intents=discord.Intents.none()), audit, lambda _job_id: discord.ui.View())  # type: ignore[arg-type]

    async def unreadable(*_args: object) -> QuotaStatus:
        raise ConnectionError("the database went away after the job was stored")

    monkeypatch.setattr(engine.quotas, "status", unreadable)
    wanted = CreateInput(
        prompt="a lighthouse at dusk", model=None, orientation=Orientation.LANDSCAPE, duration=None, hd=False, images=()
    )
    created = await creator.create(
        wanted,
        requester=discord.Object(id=USER),  # type: ignore[arg-type]
        who=MEMBER,
        channel=Channel(),  # type: ignore[arg-type]
        permissions=discord.Permissions.all(),
        locales=Locales(member="en-US", server="en-US"),
    )

    assert created.balance is None and audit.submitted_jobs == [created.job.id]
    stored = await engine.store.get(created.job.id)
    assert stored is not None and stored.task_id is not None
    text = confirm_created(created, None)
    assert text.startswith(f"Your video is on its way (job `{created.job.id}`). It costs")
    assert "could not be read just now (/video quota shows it)" in text and StatusMessage.jump_url in text
