"""End-to-end tests of the fake Discord, driven by a real discord.py ``commands.Bot`` running in-process."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord, InteractionRecord, P

TOKEN = "test-bot-token"
MIB = 1024 * 1024
Handler = Callable[[discord.Interaction, str, discord.Attachment | None], Awaitable[Any]]


# --- a tiny test-only bot -------------------------------------------------------------------------------


class JobButton(discord.ui.DynamicItem[discord.ui.Button], template=r"reelbot:job:(?P<job>\d+)"):  # type: ignore[type-arg]
    """A restart-proof button carrying a job id in its custom_id."""

    def __init__(self, job: int) -> None:
        super().__init__(discord.ui.Button(label="Retry", custom_id=f"reelbot:job:{job}"))
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> JobButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"retrying {self.job}", ephemeral=True)
        interaction.client.outcomes.put_nowait(("dynamic", self.job))  # type: ignore[attr-defined]


class HelpView(discord.ui.View):
    """A persistent view (timeout=None, fixed custom_id)."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Help", custom_id="reelbot:help")
    async def help(self, interaction: discord.Interaction, button: discord.ui.Button[HelpView]) -> None:
        await interaction.response.defer()
        interaction.client.outcomes.put_nowait(("persistent", interaction.message.id if interaction.message else 0))  # type: ignore[attr-defined]


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    """A modal with one text input."""

    text: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(label="What went wrong?", custom_id="fb:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("thanks", ephemeral=True)
        interaction.client.outcomes.put_nowait(("modal", self.text.value))  # type: ignore[attr-defined]


async def defer_and_edit(interaction: discord.Interaction, prompt: str, image: discord.Attachment | None) -> Any:
    """Default /video create behaviour: ephemeral thinking defer, then edit the original response."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    data = await image.read() if image is not None else b""
    await interaction.edit_original_response(content=f"queued {prompt}")
    return {"prompt": prompt, "image": data, "limit": interaction.filesize_limit, "perms": interaction.app_permissions}


class VideoBot(commands.Bot):
    """A bot with a ``/video create|feedback`` guild command group, a persistent view and a dynamic item."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.guild_id = guild_id
        self.handler: Handler = defer_and_edit
        self.outcomes: asyncio.Queue[Any] = asyncio.Queue()

    async def setup_hook(self) -> None:
        group = app_commands.Group(name="video", description="Make AI videos")

        @group.command(name="create", description="Create a video")
        async def create(
            interaction: discord.Interaction, prompt: str, image: discord.Attachment | None = None, style: str = "none"
        ) -> None:
            try:
                self.outcomes.put_nowait(await self.handler(interaction, prompt, image))
            except Exception as exc:
                self.outcomes.put_nowait(exc)

        @create.autocomplete("style")
        async def style_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=s, value=s) for s in ("anime", "clay", "noir") if s.startswith(current)]

        @group.command(name="feedback", description="Tell us what went wrong")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        self.tree.add_command(group, guild=discord.Object(self.guild_id))
        self.add_view(HelpView())
        self.add_dynamic_items(JobButton)

    async def outcome(self, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """The next result (or exception) of a command handler."""
        return await asyncio.wait_for(self.outcomes.get(), timeout)


# --- fixtures -------------------------------------------------------------------------------------------

pytestmark = [pytest.mark.fake(token=TOKEN), pytest.mark.usefixtures("discord_targets")]


async def start_bot(bot: commands.Bot, token: str = TOKEN) -> asyncio.Task[None]:
    """Start a bot and wait until it is ready, or raise what ``start`` raised."""
    task = asyncio.create_task(bot.start(token))
    ready = asyncio.create_task(bot.wait_until_ready())
    await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    assert ready.done(), "bot did not become ready"
    return task


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[VideoBot]:
    client = VideoBot(fake.guild.id)
    task = await start_bot(client)
    await client.tree.sync(guild=discord.Object(fake.guild.id))
    yield client
    await client.close()
    await asyncio.wait_for(task, 5)


async def api(fake: FakeDiscord, method: str, path: str, *, token: str | None = TOKEN, **kw: Any) -> tuple[int, Any]:
    """A raw REST call to the fake; returns (status, parsed JSON or text)."""
    headers = {"Authorization": f"Bot {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.rest_base + path, headers=headers, **kw) as resp,
    ):
        if resp.headers.get("Content-Type") == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


# --- gateway --------------------------------------------------------------------------------------------


async def test_bot_connects_with_zlib_stream_and_sees_guild(fake: FakeDiscord, bot: VideoBot) -> None:
    assert bot.user is not None and bot.user.id == fake.bot_user.id
    guild = bot.get_guild(fake.guild.id)
    assert guild is not None and guild.me is not None
    assert guild.get_channel(fake.channel().id) is not None
    assert guild.filesize_limit == 10 * MIB
    assert [c.compress for c in fake.gateway.connections] == ["zlib-stream"]
    await fake.state.changed.wait_for(lambda: fake.gateway.connections[0].heartbeats >= 1, 5, "a heartbeat")


async def test_raw_gateway_frames_are_sync_flushed_zlib(fake: FakeDiscord) -> None:
    inflater = zlib.decompressobj()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(fake.gateway_url + "?v=10&encoding=json&compress=zlib-stream") as ws:

            async def receive() -> dict[str, Any]:
                frame = await ws.receive_bytes(timeout=5)
                assert frame.endswith(b"\x00\x00\xff\xff")
                message: dict[str, Any] = json.loads(inflater.decompress(frame))
                return message

            hello = await receive()
            assert hello == {"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}
            await ws.send_json({"op": 1, "d": None})
            assert (await receive())["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": TOKEN, "intents": 513, "properties": {}}})
            ready, guild_create = await receive(), await receive()
            assert (ready["t"], ready["s"], guild_create["t"], guild_create["s"]) == ("READY", 1, "GUILD_CREATE", 2)
            assert ready["d"]["application"]["id"] == str(fake.app_id)
        async with session.ws_connect(fake.gateway_url + "?v=10&encoding=json") as ws:
            assert json.loads(await ws.receive_str(timeout=5))["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 0, "properties": {}}})
            await ws.receive(timeout=5)
            assert ws.close_code == 4004


async def test_wrong_token_gives_login_failure(fake: FakeDiscord) -> None:
    client = VideoBot(fake.guild.id)
    with pytest.raises(discord.LoginFailure):
        await start_bot(client, token="not-the-token")
    await client.close()
    assert fake.requests_to("GET", "/users/@me")[-1].status == 401


async def test_wrong_gateway_token_closes_4004(fake: FakeDiscord) -> None:
    fake.gateway.token = "a-different-token"
    client = VideoBot(fake.guild.id)
    with pytest.raises(discord.ConnectionClosed) as info:
        await start_bot(client)
    assert info.value.code == 4004
    await client.close()


async def test_resume_after_disconnect_replays_and_keeps_working(fake: FakeDiscord, bot: VideoBot) -> None:
    await fake.disconnect(4000, "test kick")
    await fake.state.changed.wait_for(lambda: fake.gateway.resume_count == 1, 10, "a RESUME")
    assert fake.gateway.identify_count == 1
    rec = await fake.invoke_slash(options={"prompt": "after resume"})
    assert (await bot.outcome())["prompt"] == "after resume"
    assert (await rec.wait_response()).ok


# --- commands and interactions --------------------------------------------------------------------------


async def test_guild_sync_is_recorded_with_stable_ids(fake: FakeDiscord, bot: VideoBot) -> None:
    assert fake.sync_count(fake.guild.id) == 1 and fake.sync_count(None) == 0
    (video,) = fake.commands(fake.guild.id)
    create = next(o for o in video["options"] if o["name"] == "create")
    assert [(o["name"], o["type"]) for o in create["options"]] == [("prompt", 3), ("image", 11), ("style", 3)]
    await bot.tree.sync(guild=discord.Object(fake.guild.id))
    assert fake.sync_count(fake.guild.id) == 2
    assert fake.commands(fake.guild.id)[0]["id"] == video["id"]


async def test_slash_command_defer_then_edit(fake: FakeDiscord, bot: VideoBot) -> None:
    image = bytes(range(256)) * 10
    rec = await fake.invoke_slash(options={"prompt": "a cat"}, attachments=[("ref.png", image, "image/png")])
    callback = await rec.wait_response(3)
    assert (callback.type, callback.flags, callback.status) == (5, 64, 200)
    assert callback.latency is not None and callback.latency < 3
    result = await bot.outcome()
    assert result["prompt"] == "a cat" and result["image"] == image and result["limit"] == 10 * MIB
    assert result["perms"].send_messages and result["perms"].attach_files
    edit = await rec.wait_for(lambda c: c.kind == "edit_original")
    original = fake.message(rec.original_message_id or 0)
    assert edit.ok and original.content == "queued a cat" and original.ephemeral
    assert fake.messages(fake.channel().id) == []


async def test_app_permissions_and_403_follow_channel_overwrites(fake: FakeDiscord, bot: VideoBot) -> None:
    channel_id = fake.channel().id
    fake.set_bot_permissions(channel_id, deny=P.SEND_MESSAGES | P.ATTACH_FILES)
    await fake.invoke_slash(options={"prompt": "x"})
    perms = (await bot.outcome())["perms"]
    assert not perms.send_messages and not perms.attach_files and perms.view_channel
    with pytest.raises(discord.Forbidden) as info:
        await bot.get_partial_messageable(channel_id).send("hello")
    assert info.value.code == 50013


async def test_late_callback_gets_unknown_interaction(fake: FakeDiscord, bot: VideoBot) -> None:
    fake.ack_deadline = 0.2
    past_deadline = asyncio.Event()

    async def slow(interaction: discord.Interaction, prompt: str, image: discord.Attachment | None) -> None:
        await past_deadline.wait()
        await interaction.response.defer(ephemeral=True)

    bot.handler = slow
    rec = await fake.invoke_slash(options={"prompt": "slow"})
    assert rec.sent_at is not None
    asyncio.get_running_loop().call_at(rec.sent_at + 0.25, past_deadline.set)
    error = await bot.outcome()
    assert isinstance(error, discord.NotFound) and error.code == 10062
    call = await rec.wait_response()
    assert (call.status, call.code) == (404, 10062) and not rec.acknowledged


async def test_second_callback_gets_already_acknowledged(fake: FakeDiscord, bot: VideoBot) -> None:
    rec = await fake.invoke_slash(options={"prompt": "once"})
    await bot.outcome()
    status, body = await api(fake, "POST", f"/interactions/{rec.id}/{rec.token}/callback", token=None, json={"type": 5})
    assert (status, body) == (400, {"message": "Interaction has already been acknowledged.", "code": 40060})


async def test_expired_token_gives_invalid_webhook_token(fake: FakeDiscord, bot: VideoBot) -> None:
    expired = asyncio.Event()

    async def defer_then_edit_late(
        interaction: discord.Interaction, prompt: str, image: discord.Attachment | None
    ) -> None:
        await interaction.response.defer(thinking=True)
        await expired.wait()
        await interaction.edit_original_response(content="too late")

    bot.handler = defer_then_edit_late
    rec = await fake.invoke_slash(options={"prompt": "long job"})
    await rec.wait_response()
    fake.expire_token(rec)
    expired.set()
    error = await bot.outcome()
    assert isinstance(error, discord.HTTPException) and (error.status, error.code) == (401, 50027)


async def test_buttons_reach_persistent_view_and_dynamic_item(fake: FakeDiscord, bot: VideoBot) -> None:
    view = HelpView()
    view.add_item(JobButton(42))
    channel = bot.get_partial_messageable(fake.channel().id)
    msg = await channel.send("your video", view=view)
    dynamic = await fake.click_button(msg.id, "reelbot:job:42")
    assert await bot.outcome() == ("dynamic", 42)
    answer = await dynamic.wait_response()
    assert (answer.type, answer.flags) == (4, 64) and fake.message(answer.message_id or 0).content == "retrying 42"
    persistent = await fake.click_button(msg.id, "reelbot:help")
    assert await bot.outcome() == ("persistent", msg.id)
    assert (await persistent.wait_response()).type == 6
    with pytest.raises(LookupError):
        await fake.click_button(msg.id, "no-such-button")


async def test_modal_submit_and_autocomplete(fake: FakeDiscord, bot: VideoBot) -> None:
    opened = await fake.invoke_slash(subcommand="feedback")
    assert (await opened.wait_response()).type == 9
    submitted = await fake.submit_modal(opened, {"fb:text": "too blurry"})
    assert await bot.outcome() == ("modal", "too blurry")
    assert (await submitted.wait_response()).type == 4
    typing = await fake.invoke_autocomplete("style", options={"prompt": "x", "style": "n"})
    choices = (await typing.wait_response()).data["choices"]
    assert choices == [{"name": "noir", "value": "noir"}]


# --- REST: messages, files, threads, faults -------------------------------------------------------------


async def test_channel_send_file_and_threads(fake: FakeDiscord, bot: VideoBot) -> None:
    payload = bytes(range(256)) * 4096
    channel = bot.get_partial_messageable(fake.channel().id, guild_id=fake.guild.id)
    msg = await channel.send("done", file=discord.File(io.BytesIO(payload), "clip.mp4"))
    stored = fake.message(msg.id).attachments[0]
    assert stored.data == payload and stored.content_type == "video/mp4"
    assert "?ex=" in msg.attachments[0].url and "&hm=" in msg.attachments[0].url
    assert await msg.attachments[0].read() == payload
    full = await bot.get_channel(fake.channel().id).fetch_message(msg.id)  # type: ignore[union-attr]
    thread = await full.create_thread(name="Result")
    assert thread.id == msg.id and [t.id for t in fake.threads()] == [msg.id]
    with pytest.raises(discord.HTTPException) as info:
        await full.create_thread(name="Again")
    assert (info.value.status, info.value.code) == (400, 160004)
    await thread.send("in thread")
    assert [m.content for m in fake.messages(thread.id)] == ["in thread"]


async def test_archived_threads_unarchive_on_send_unless_locked(fake: FakeDiscord, bot: VideoBot) -> None:
    channel = bot.get_channel(fake.channel().id)
    assert isinstance(channel, discord.TextChannel)
    thread = await (await channel.send("anchor")).create_thread(name="t")
    fake.archive_thread(thread.id)
    await thread.send("wakes it up")
    assert not fake.channel(thread.id).archived
    fake.archive_thread(thread.id, locked=True)
    with pytest.raises(discord.HTTPException) as info:
        await thread.send("locked")
    assert (info.value.status, info.value.code) == (400, 50083)
    fake.delete_channel(thread.id)
    with pytest.raises(discord.NotFound) as gone:
        await thread.send("deleted")
    assert gone.value.code == 10003


async def test_oversized_upload_is_413(fake: FakeDiscord, bot: VideoBot) -> None:
    fake.set_upload_limit(fake.guild.id, 1024)
    channel = bot.get_partial_messageable(fake.channel().id)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(file=discord.File(io.BytesIO(b"x" * 1025), "big.mp4"))
    assert (info.value.status, info.value.code) == (413, 40005)
    assert fake.messages(fake.channel().id) == []


async def test_rate_limited_post_is_retried_and_posted_once(fake: FakeDiscord, bot: VideoBot) -> None:
    fault = fake.inject_rate_limit("POST", "/channels/*/messages", retry_after=0.05)
    await bot.get_partial_messageable(fake.channel().id).send("hello")
    assert fault.hits == 1
    assert [r.status for r in fake.requests_to("POST", "/channels/*/messages")] == [429, 200]
    assert [m.content for m in fake.messages(fake.channel().id)] == ["hello"]


async def test_lost_response_deduplicated_by_nonce_but_double_posts_followups(fake: FakeDiscord, bot: VideoBot) -> None:
    channel = bot.get_partial_messageable(fake.channel().id)
    fake.inject_lost_response("POST", "/channels/*/messages")
    await channel.send("sent once")  # discord.py 2.x always sends a random nonce with enforce_nonce
    assert [r.status for r in fake.requests_to("POST", "/channels/*/messages")] == [502, 200]
    assert [m.content for m in fake.messages(fake.channel().id)] == ["sent once"]

    async def followup(interaction: discord.Interaction, prompt: str, image: discord.Attachment | None) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="working")
        await interaction.followup.send("result", wait=True)

    bot.handler = followup
    fake.inject_lost_response("POST", "/webhooks/*")
    await fake.invoke_slash(options={"prompt": "x"})
    await bot.outcome()
    assert [m.content for m in fake.messages(fake.channel().id)] == ["sent once", "working", "result", "result"]


async def test_rest_error_shapes_and_headers(fake: FakeDiscord) -> None:
    channel_id = fake.channel().id
    assert await api(fake, "GET", "/users/@me", token="bad") == (401, {"message": "401: Unauthorized", "code": 0})
    assert await api(fake, "GET", "/no/such/route") == (404, {"message": "404: Not Found", "code": 0})
    unknown = (404, {"message": "Unknown Message", "code": 10008})
    assert await api(fake, "GET", f"/channels/{channel_id}/messages/1") == unknown
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {TOKEN}"}
        async with session.get(f"{fake.rest_base}/channels/{channel_id}", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Bucket"} <= set(
                resp.headers
            )
    fake.inject_error("GET", "/channels/*", status=503)
    status, text = await api(fake, "GET", f"/channels/{channel_id}")
    assert status == 503 and "<html>" in text
    fake.delete_channel(channel_id)
    assert await api(fake, "GET", f"/channels/{channel_id}") == (404, {"message": "Unknown Channel", "code": 10003})


async def test_wait_for_message_and_interaction_records(fake: FakeDiscord, bot: VideoBot) -> None:
    rec = await fake.invoke_slash(options={"prompt": "records"})
    await bot.outcome()
    assert isinstance(rec, InteractionRecord) and [c.kind for c in rec.responses] == ["callback", "edit_original"]
    posted = fake.post_user_message(fake.channel().id, "hi bot")
    found = await fake.wait_for_message(fake.channel().id, lambda m: m.content == "hi bot", timeout=2)
    assert found.id == posted.id
