"""/video: create, status, show, history, models and help. Thin: defer, call a service, render."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.catalog import ModelSpec
from bot.domain import Job, JobStatus
from bot.errors import UserFacingError
from bot.front import references, render
from bot.front.creation import CreateInput, requester_of
from bot.front.i18n import locales_of, member_locale
from bot.front.member_settings import fill_in, settings_embed, settings_view
from bot.front.private import reply_of, signed_link
from bot.front.replies import confirm_created, forgotten_text, no_such_job
from bot.front.takedown import delete_posts
from bot.locales import _, translate
from bot.services.jobs import check_image_count, check_last_frame
from bot.services.served import ModelState

if TYPE_CHECKING:
    from bot.front.client import VideoBot

HISTORY_LENGTH = 10
AUTOCOMPLETE_LIMIT = 25


@app_commands.guild_only()
class VideoCog(
    commands.GroupCog, group_name="video", group_description=locale_str("Make AI videos from a prompt and images")
):
    """The /video command group."""

    def __init__(self, bot: VideoBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="create", description=locale_str("Make a video from a prompt and optional reference images")
    )
    @app_commands.describe(
        prompt=locale_str("What the video should show"),
        orientation=locale_str("Landscape (wide) or portrait (tall)"),
        model=locale_str("Which video model to use"),
        duration=locale_str("Length in seconds (see /video models)"),
        image=locale_str("A reference image (PNG, JPEG, WebP or GIF)"),
        image2=locale_str("A second reference image, for models that take several"),
        image3=locale_str("A third reference image, for models that take several"),
        last_frame=locale_str("The picture the video should end on, for models that take one (see /video models)"),
        hd=locale_str("HD upsampling, where the model offers it"),
        private=locale_str("Only you see it: status and video by DM, nothing posted in the channel"),
    )
    async def create(
        self,
        interaction: discord.Interaction[VideoBot],
        prompt: app_commands.Range[str, 1, 2000],
        orientation: Literal["landscape", "portrait"] | None = None,
        model: str | None = None,
        duration: app_commands.Range[int, 1, 60] | None = None,
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        last_frame: discord.Attachment | None = None,
        hd: bool | None = None,
        private: bool | None = None,
    ) -> None:
        """Defer privately at once, then run the creation flow; refusals edit the private reply."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.channel
        if interaction.guild is None or not isinstance(channel, discord.abc.Messageable):
            raise UserFacingError(_("Use /video create in a server's text channel."))
        attachments = [a for a in (image, image2, image3) if a is not None]
        engine = self.bot.engine
        defaults = await engine.guilds.member_defaults(interaction.guild.id, interaction.user.id)
        chosen = fill_in(
            defaults, engine.models, model=model, orientation=orientation, duration=duration, hd=hd, private=private
        )
        spec = engine.jobs.model(chosen.model)
        check_image_count(spec, len(attachments))  # before downloading anything
        if last_frame is not None:
            check_last_frame(spec)
        blobs = await references.read_attachments([*attachments, *([last_frame] if last_frame else [])])
        wanted = CreateInput(
            prompt=prompt,
            model=spec.name,
            orientation=chosen.orientation,
            duration=chosen.duration,
            hd=chosen.hd,
            images=[(a.filename, blob) for a, blob in zip(attachments, blobs[: len(attachments)], strict=True)],
            last_frame=(last_frame.filename, blobs[-1]) if last_frame is not None else None,
            private=chosen.private,
            private_by_default=chosen.private_by_default,
        )
        created = await self.bot.creator.create(
            wanted,
            requester=interaction.user,
            who=requester_of(interaction.user, channel, interaction.guild.id),
            channel=channel,
            permissions=interaction.app_permissions,
            reply=reply_of(interaction),
            locales=locales_of(interaction),
        )
        locale = member_locale(interaction)
        await interaction.edit_original_response(content=confirm_created(created, locale, chosen.set_aside))

    @create.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """Served models whose name or label contains what was typed (retired and unserved ones are left out), each
        with its cost for the duration chosen so far, else the member's default length, else the model's own (as
        /video create would use them)."""
        typed = current.lower()
        locale = member_locale(interaction)
        wanted = getattr(interaction.namespace, "duration", None)
        if wanted is None and interaction.guild_id is not None:
            wanted = (await self.bot.engine.guilds.member_defaults(interaction.guild_id, interaction.user.id)).duration
        choices = []
        for spec in self.bot.engine.models.offered():
            if typed not in spec.name.lower() and typed not in spec.label.lower():
                continue
            seconds = wanted if wanted in spec.durations else spec.default_duration
            credits = f"{spec.cost(seconds):g}"
            cost = " · " + translate(locale, "{cost} credits for {seconds} s", cost=credits, seconds=seconds)
            name = f"{spec.label} ({spec.name})"[: render.CHOICE_NAME_CHARS - len(cost)] + cost
            choices.append(app_commands.Choice(name=name, value=spec.name))
        return choices[:AUTOCOMPLETE_LIMIT]

    @create.autocomplete("duration")
    async def duration_autocomplete(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[int]]:
        """The durations of the model chosen so far (or of the default model)."""
        models = self.bot.engine.models
        chosen = models.catalog.get(str(getattr(interaction.namespace, "model", "") or ""))
        if chosen is not None and models.state(chosen) is ModelState.SERVED:
            spec: ModelSpec | None = chosen
        else:
            spec = next(iter(models.offered()), None)
        if spec is None:
            return []
        locale = member_locale(interaction)
        return [
            app_commands.Choice(
                name=(
                    translate(locale, "{seconds} seconds (default)", seconds=seconds)
                    if seconds == spec.default_duration
                    else translate(locale, "{seconds} seconds", seconds=seconds)
                ),
                value=seconds,
            )
            for seconds in spec.durations
            if current.strip() in str(seconds)
        ][:AUTOCOMPLETE_LIMIT]

    @app_commands.command(name="status", description=locale_str("Your running videos, or one job by its id"))
    @app_commands.describe(job=locale_str("A job id from the bot, or the video service's task id"))
    async def status(self, interaction: discord.Interaction[VideoBot], job: str | None = None) -> None:
        """Show the member's running jobs, or one job of this server."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        store = self.bot.engine.store
        if job is not None:
            found = await store.find(job)
            if found is None or found.guild_id != interaction.guild_id:
                raise UserFacingError(no_such_job(job))
            await interaction.edit_original_response(content=await self._summary(found, member_locale(interaction)))
            return
        assert interaction.guild_id is not None
        running = await store.list_unfinished_by_requester(interaction.guild_id, interaction.user.id)
        if not running:
            said = translate(
                member_locale(interaction), "You have no videos in progress. /video history lists your recent ones."
            )
            await interaction.edit_original_response(content=said)
            return
        lines = [render.job_summary(j, member_locale(interaction)) for j in running]
        await interaction.edit_original_response(content="\n".join(lines)[:2000])

    @app_commands.command(name="show", description=locale_str("Post a finished video again here, with its buttons"))
    @app_commands.describe(job=locale_str("The job id of the video (yours are offered as you type)"))
    async def show(self, interaction: discord.Interaction[VideoBot], job: str) -> None:
        """Post one finished job's result again in this channel: the member's own, or any for moderators."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.reshow.show(interaction, job)

    @show.autocomplete("job")
    async def show_autocomplete(
        self, interaction: discord.Interaction[VideoBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """The member's recent finished videos on this server whose id or prompt contains what was typed."""
        if interaction.guild_id is None:
            return []
        found = await self.bot.reshow.choices(interaction.guild_id, interaction.user.id, current, AUTOCOMPLETE_LIMIT)
        return [app_commands.Choice(name=name, value=value) for name, value in found]

    @app_commands.command(name="history", description=locale_str("Your recent videos"))
    async def history(self, interaction: discord.Interaction[VideoBot]) -> None:
        """The member's last videos, newest first, with links."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None
        jobs = await self.bot.engine.store.list_by_requester(interaction.guild_id, interaction.user.id, HISTORY_LENGTH)
        locale = member_locale(interaction)
        if not jobs:
            said = translate(locale, "You have not made any videos yet. Try /video create.")
            await interaction.edit_original_response(content=said)
            return
        lines = [await self._summary(j, locale) for j in jobs]
        await interaction.edit_original_response(content="\n".join(lines)[:2000])

    async def _summary(self, job: Job, locale: str | None) -> str:
        """A job's line, with a link to the video of a private job that reached its member nowhere."""
        engine = self.bot.engine
        unreached = job.private and job.status is JobStatus.SUCCEEDED and job.result_message_id is None
        hours = engine.settings.media_link_hours
        link = await signed_link(engine.media, job, hours * 3600) if unreached else None
        return render.job_summary(job, locale, private_link=link)

    @app_commands.command(
        name="quota", description=locale_str("Your credits left today, the server's pool and your cooldown")
    )
    async def quota(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the member's credits, privately."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        roles = requester_of(interaction.user, interaction.channel, interaction.guild.id).role_ids
        status = await self.bot.engine.quotas.status(interaction.guild.id, interaction.user.id, roles)
        await interaction.edit_original_response(embed=render.quota_embed(status, member_locale(interaction)))

    @app_commands.command(name="settings", description=locale_str("Your own defaults for /video create on this server"))
    async def settings(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Show the member's defaults with a select menu for each."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        engine = self.bot.engine
        defaults = await engine.guilds.member_defaults(interaction.guild.id, interaction.user.id)
        locale = member_locale(interaction)
        await interaction.edit_original_response(
            embed=settings_embed(defaults, locale), view=settings_view(defaults, engine.models.offered(), locale)
        )

    @app_commands.command(
        name="forget", description=locale_str("Erase your video history, stored prompts and defaults on this server")
    )
    async def forget(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Delete the member's prompts and finished jobs; the credit ledger keeps only amounts."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        engine, guild_id, user_id = self.bot.engine, interaction.guild.id, interaction.user.id
        dm_posts = await engine.guilds.dm_posts_of(guild_id, user_id)
        await delete_posts(self.bot, dm_posts + await engine.guilds.shown_copies_of(guild_id, user_id))
        for job_id in await engine.guilds.done_jobs_of(guild_id, user_id):
            await engine.media.remove_job(job_id)
        await engine.guilds.forget_user(guild_id, user_id)
        await interaction.edit_original_response(content=forgotten_text(member_locale(interaction)))

    @app_commands.command(name="models", description=locale_str("What each video model can do and what it costs"))
    async def models(self, interaction: discord.Interaction[VideoBot]) -> None:
        """List the models members may pick."""
        embed = render.models_embed(self.bot.engine.models.offered(), member_locale(interaction))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="help", description=locale_str("How to make videos with Reelbot"))
    async def help(self, interaction: discord.Interaction[VideoBot]) -> None:
        """Explain the commands."""
        offered = self.bot.engine.models.offered()
        locale = member_locale(interaction)
        default = offered[0].name if offered else translate(locale, "none available")
        await interaction.response.send_message(embed=render.help_embed(default, locale), ephemeral=True)


async def setup(bot: VideoBot) -> None:
    """Add the cog (discord.py's extension entry point)."""
    await bot.add_cog(VideoCog(bot))
