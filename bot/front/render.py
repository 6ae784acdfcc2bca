"""Pure builders of what members see: status embeds, result and failure text, model and help listings.

Every text is in a language: a job's public posts in the server's locale it keeps (``job.locale``), private replies
in the ``locale`` of the member who asked.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.catalog import ModelSpec
from bot.domain import DeliveryState, ErrorKind, Job, JobStatus, Orientation
from bot.locales import Text, _, translate, translate_plural, translate_stored
from bot.progress_bar import render_bar
from bot.services.quotas import QuotaStatus

COLOUR_RUNNING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_DELETED = discord.Colour.dark_grey()
PROMPT_PREVIEW_CHARS = 1000
CHOICE_NAME_CHARS = 100  # Discord refuses a longer autocomplete choice or select option label
BAR_WIDTH = 20

_STATE_WORDS: dict[JobStatus, Text] = {
    JobStatus.WAITING: _("Waiting for a free slot"),
    JobStatus.SUBMITTING: _("Sending to the video service…"),
    JobStatus.QUEUED: _("Queued"),
    JobStatus.RUNNING: _("Generating"),
    JobStatus.SUCCEEDED: _("Done"),
    JobStatus.FAILED: _("Failed"),
    JobStatus.CANCELLED: _("Cancelled"),
}
_ORIENTATION_WORDS: dict[str, Text] = {
    Orientation.LANDSCAPE.value: _("landscape"),
    Orientation.PORTRAIT.value: _("portrait"),
}
# Why a job failed, in a few words for the one line /video status and /video history give it.
_ERROR_KINDS: dict[ErrorKind, Text] = {
    ErrorKind.AUTH: _("the video service refused the bot's key"),
    ErrorKind.BALANCE: _("the video service account is out of balance"),
    ErrorKind.INVALID_REQUEST: _("settings refused"),
    ErrorKind.CONTENT_POLICY: _("content policy"),
    ErrorKind.MODEL_UNAVAILABLE: _("model unavailable"),
    ErrorKind.RATE_LIMITED: _("video service busy"),
    ErrorKind.UNAVAILABLE: _("video service unavailable"),
    ErrorKind.LOST: _("lost by the video service"),
    ErrorKind.UNCONFIRMED: _("not confirmed by the video service"),
    ErrorKind.TIMED_OUT: _("timed out"),
    ErrorKind.GENERATION_FAILED: _("the provider could not make it"),
    ErrorKind.BAD_RESULT: _("the result could not be downloaded"),
    ErrorKind.DROPPED: _("taken out of the queue"),
}
_NOT_MADE = _("The video could not be made.")
_TITLES: dict[JobStatus, Text] = {
    JobStatus.SUCCEEDED: _("Video ready"),
    JobStatus.FAILED: _("Video failed"),
    JobStatus.CANCELLED: _("Video cancelled"),
}


def job_marker(job_id: str) -> str:
    """The text every message about a job carries, so a restarted bot can find what it already posted.

    It is the same in every language: the delivery looks for it in its earlier posts.
    """
    return f"job `{job_id}`"


def deleted_thread_name(job: Job) -> str:
    """A deleted video's thread name, which no longer shows its prompt."""
    return translate(job.post_locale, "Deleted video · {job_id}", job_id=job.id)


def message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str | None:
    """A jump link to a message, when all its parts are known."""
    if guild_id is None or channel_id is None or message_id is None:
        return None
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def status_embed(job: Job, *, result_link: str | None = None, note: str | None = None) -> discord.Embed:
    """The public status message's embed for a job in any state, in the job's server language."""
    locale = job.post_locale
    colour = {JobStatus.SUCCEEDED: COLOUR_DONE, JobStatus.FAILED: COLOUR_FAILED}.get(job.status, COLOUR_RUNNING)
    if job.result_deleted_at is not None or job.status is JobStatus.CANCELLED:
        colour = COLOUR_DELETED
    prompt = (
        _preview(job.prompt)
        if job.result_deleted_at is None
        else translate(locale, "The prompt is hidden: this video was deleted.")
    )
    embed = discord.Embed(title=_title(job), description=prompt, colour=colour)
    embed.add_field(name=translate(locale, "Model"), value=job.model)
    embed.add_field(name=translate(locale, "Orientation"), value=orientation_word(locale, job.orientation.value))
    length = translate(locale, "{seconds} s", seconds=job.duration)
    embed.add_field(name=translate(locale, "Duration"), value=f"{length}{' · HD' if job.hd else ''}")
    if job.requester_id is not None:
        embed.add_field(name=translate(locale, "Requested by"), value=f"<@{job.requester_id}>")
    embed.add_field(name=translate(locale, "Progress"), value=progress_line(job, locale), inline=False)
    if job.status is JobStatus.FAILED and job.error_message:
        reason = reason_text(job, locale, _NOT_MADE)
        embed.add_field(name=translate(locale, "What happened"), value=reason[:1024], inline=False)
    if job.status is JobStatus.CANCELLED:
        embed.add_field(name=translate(locale, "What happened"), value=cancelled_text(job), inline=False)
    if result_link:
        opened = translate(locale, "[Open the video]({link})", link=result_link)
        embed.add_field(name=translate(locale, "Result"), value=opened, inline=False)
    if note:
        embed.add_field(name=translate(locale, "Note"), value=note[:1024], inline=False)
    embed.set_footer(text=translate(locale, "Job {job_id}", job_id=job.id))
    return embed


def orientation_name(orientation: str) -> Text:
    """``landscape`` or ``portrait`` as a word to translate (the option's values stay English)."""
    return _ORIENTATION_WORDS.get(orientation) or Text(orientation)


def orientation_word(locale: str | None, orientation: str) -> str:
    """``landscape`` or ``portrait`` in words of the language."""
    return orientation_name(orientation).render(locale)


def reason_text(job: Job, locale: str | None, default: Text) -> str:
    """Why a job failed or was dropped, in the reader's language: its stored reason with the values in it; on a job
    stored before reasons kept them, its English (translated when it is a message id as it is); else ``default``."""
    if job.error_text is not None:
        return job.error_text.render(locale)
    if job.error_message:
        return translate_stored(locale, job.error_message)
    return default.render(locale)


def progress_line(job: Job, locale: str | None) -> str:
    """A bar, a percentage and the time the job started, shown relative by Discord clients."""
    if job.result_deleted_at is not None:
        return translate(locale, "The result was deleted.")
    state = _STATE_WORDS[job.status].render(locale)
    if job.status.is_terminal:
        return state
    if job.status is JobStatus.WAITING:
        return waiting_line(job, locale)
    started = f"<t:{int(job.started_at)}:R>"
    percent = f" {job.progress}%" if job.progress is not None else ""
    slow = " · " + translate(locale, "taking longer than usual") if job.slow_notified else ""
    since = translate(locale, "started {when}", when=started)
    return f"`{render_bar(job.progress, BAR_WIDTH)}`{percent} · {state} · {since}{slow}"


def waiting_line(job: Job, locale: str | None) -> str:
    """Where a waiting job stands in its server's queue: "waiting: position N of M, about K min" (or paused)."""
    if job.queue_position is None or job.queue_size is None:
        return translate(locale, "waiting for a free slot · its place in the queue is being worked out")
    place = translate(
        locale, "waiting: position {position} of {size}", position=job.queue_position, size=job.queue_size
    )
    if job.queue_paused:
        paused = translate(locale, "paused: video generation is paused here, the queue moves once it is resumed")
        return f"{place} · {paused}"
    if job.queue_minutes is None:
        return place
    return f"{place}, " + translate(locale, "about {minutes} min", minutes=job.queue_minutes)


def dropped_text(job: Job) -> str:
    """The private notice to a member whose waiting job was taken out of the queue (in the member's language)."""
    locale = job.member_locale
    why = reason_text(job, locale, _("it is no longer allowed."))
    return translate(
        locale,
        "Your waiting video {job} was taken out of the queue and will not be made: {why} Its credits are back.",
        job=job_marker(job.id),
        why=why,
    )


def cancelled_text(job: Job) -> str:
    """Who cancelled a job and when, and what became of its credits (public: the job's server language)."""
    locale = job.post_locale
    who = f"<@{job.cancelled_by}>"
    if job.cancelled_at is not None:
        by = translate(locale, "Cancelled by {who} {when}.", who=who, when=f"<t:{int(job.cancelled_at)}:R>")
    else:
        by = translate(locale, "Cancelled by {who}.", who=who)
    credits = (
        translate(
            locale, "The video provider had already started it, so its credits were spent; nothing will be posted."
        )
        if job.sent
        else translate(locale, "It was never sent to the video provider, so its credits were given back.")
    )
    return f"{by} {credits}"


def cancel_sent_text(job: Job, locale: str | None) -> str:
    """The private question before cancelling a job the provider has already started."""
    return translate(
        locale,
        "The video provider has already started {job}, and it cannot be stopped there: its credits stay spent even "
        "if you cancel. Cancelling now frees the slot and nothing will be posted. Cancel anyway?",
        job=job_marker(job.id),
    )


def deleted_text(files_deleted: bool, locale: str | None) -> str:
    """The private answer to Delete: the video is gone, or all but its stored files, which follow."""
    if files_deleted:
        return translate(locale, "The video was deleted.")
    return translate(
        locale,
        "The video was deleted from Discord and its prompt hidden, but its stored files could not be deleted yet: the "
        "file storage failed. The bot deletes them by itself as soon as the storage works again (it tries every few "
        "minutes, after a restart too); until then their download links may still work. There is nothing you need "
        "to do.",
    )


def purged_text(deleted: int, files_left: int, mention: str, locale: str | None) -> str:
    """What /video-purge took down, and whether some stored files follow later."""
    text = translate_plural(
        locale, "Deleted {count} video by {member}.", "Deleted {count} videos by {member}.", deleted, member=mention
    )
    if not files_left:
        return text
    later = translate_plural(
        locale,
        "The stored file of {count} of them could not be deleted yet: the file storage failed. The bot deletes it by "
        "itself as soon as the storage works again (it tries every few minutes, after a restart too); until then its "
        "download link may still work. There is nothing you need to do.",
        "The stored files of {count} of them could not be deleted yet: the file storage failed. The bot deletes them "
        "by itself as soon as the storage works again (it tries every few minutes, after a restart too); until then "
        "their download links may still work. There is nothing you need to do.",
        files_left,
    )
    return f"{text} {later}"


def result_text(job: Job) -> str:
    """The text above a delivered video."""
    return translate(
        job.post_locale, "{who} your video is ready · {job}", who=f"<@{job.requester_id}>", job=job_marker(job.id)
    )


def shown_again_line(job: Job, shown_by: int) -> str:
    """The first line of a result posted again with /video show."""
    return "-# " + translate(
        job.post_locale,
        "Shown again by {who} with /video show · made for {requester}",
        who=f"<@{shown_by}>",
        requester=f"<@{job.requester_id}>",
    )


def show_choice(job: Job) -> str:
    """A finished job as /video show's autocomplete offers it: its id and the start of its prompt."""
    head = f"{job.id} · "
    return head + _preview(" ".join(job.prompt.split()), CHOICE_NAME_CHARS - len(head))


def failure_text(job: Job) -> str:
    """The text of a failure notice in the job's thread."""
    locale = job.post_locale
    reason = reason_text(job, locale, _NOT_MADE)
    return translate(
        locale, "{who} {job} failed. {reason}", who=f"<@{job.requester_id}>", job=job_marker(job.id), reason=reason
    )


def too_large_text(job: Job, limit_bytes: int) -> str:
    """The post for a video over the upload limit that could neither be shrunk nor linked."""
    size = job.result_bytes or 0
    return translate(
        job.post_locale,
        "{who} your video is ready, but it is {size}, over this server's {limit} upload limit, and it could not be "
        "shrunk to fit. It is kept as {job}: a server admin can ask the bot's operator for the file {file} in the "
        "bot's results folder.",
        who=f"<@{job.requester_id}>",
        size=mib(size),
        limit=mib(limit_bytes),
        job=job_marker(job.id),
        file=f"`{job.id}.mp4`",
    )


def compressed_note(job: Job, original_bytes: int, limit_bytes: int, full_link: str | None) -> str:
    """The line under a video that was re-encoded to fit."""
    locale = job.post_locale
    note = translate(
        locale,
        "Compressed from {size} to fit this server's {limit} upload limit.",
        size=mib(original_bytes),
        limit=mib(limit_bytes),
    )
    if full_link:
        note += " " + translate(locale, "Full quality: {link}", link=f"<{full_link}>")
    return f"-# {note}"


def linked_text(job: Job, link: str) -> str:
    """The post for a video too large to attach, linked from the bot's media server."""
    ready = result_text(job)
    where = translate(
        job.post_locale,
        "It is too large for this server's upload limit, so it is here (the link works for a few days): {link}",
        link=link,
    )
    return f"{ready}\n{where}"


def private_unreachable_text() -> Text:
    """Why a private job could not start: neither the member's DMs nor their private reply took its status."""
    return _(
        "I could not send you this private video's status, by DM or privately here, so nothing was started and "
        "nothing was charged. Allow direct messages from this server's members (Privacy Settings), then try again."
    )


def private_reply_text(link: str | None, locale: str | None) -> str:
    """The line above a private result posted in the member's private reply, their DMs being closed to the bot."""
    if link is None:
        return translate(
            locale,
            "Your DMs are closed to me, so here is your private video. Discord removes this message when you reload: "
            "save the video now.",
        )
    return translate(
        locale,
        "Your DMs are closed to me, so here is your private video. Discord removes this message when you reload; "
        "the video stays here for a few days: <{link}>",
        link=link,
    )


def private_whereabouts(job: Job, link: str | None, locale: str | None) -> str:
    """Where a delivered private job's video is, when neither the member's DMs nor their private reply took it."""
    if link is not None:
        return translate(
            locale,
            "it could not reach you: your DMs are closed to me, and the private reply of your command had expired "
            "(Discord keeps it 15 minutes). Download it here (the link works for a few days): <{link}>",
            link=link,
        )
    return translate(
        locale,
        "it could not reach you: your DMs are closed to me, and the private reply of your command had expired "
        "(Discord keeps it 15 minutes). Ask a moderator: the bot's operator keeps it as {file} for a few days.",
        file=f"`{job.id}.mp4`",
    )


def models_embed(offered: Sequence[ModelSpec], locale: str | None) -> discord.Embed:
    """Every model members may pick, with its durations, orientations, images and cost; the first is the default."""
    embed = discord.Embed(title=translate(locale, "Video models"), colour=COLOUR_RUNNING)
    for spec in offered:
        hd = ""
        if spec.hd_orientations:
            hd = f" · HD ({', '.join(orientation_word(locale, o.value) for o in spec.hd_orientations)})"
        if spec.max_images == 0:
            images = translate(locale, "no reference images")
        else:
            images = translate_plural(
                locale, "up to {count} reference image", "up to {count} reference images", spec.max_images
            )
        last = " · " + translate(locale, "a last frame") if spec.takes_last_frame else ""
        seconds = translate(
            locale,
            "{durations} seconds (default {default})",
            durations=", ".join(str(d) for d in spec.durations),
            default=spec.default_duration,
        )
        rate = translate(locale, "{rate} credits per second", rate=f"{spec.credits_per_second:g}")
        shapes = " / ".join(orientation_word(locale, o.value) for o in spec.orientations)
        embed.add_field(
            name=f"{spec.label} (`{spec.name}`)",
            value=f"{seconds}\n{shapes} · {images}{last}{hd}\n{rate}",
            inline=False,
        )
    if offered:
        embed.set_footer(text=translate(locale, "The default model is {model}.", model=offered[0].name))
    else:
        embed.description = translate(
            locale, "The video service offers none of this bot's models right now. Tell the bot's operator."
        )
    return embed


def help_embed(default: str, locale: str | None) -> discord.Embed:
    """How to use the bot, in a few lines; ``default`` names the default model."""
    embed = discord.Embed(title=translate(locale, "Making videos with Reelbot"), colour=COLOUR_RUNNING)
    paragraphs = [
        translate(
            locale,
            "**/video create** `prompt` — describe the video. Options: `orientation` (landscape or portrait), "
            "`model` (default {model}), `duration`, up to three reference images (`image`, `image2`, `image3`: PNG, "
            "JPEG, WebP or GIF), a `last_frame` for models that end on a given picture, `hd` where the model offers "
            "it, and `private` to get the status and the video by DM, nothing public.",
            model=default,
        ),
        translate(
            locale,
            "The bot answers privately, then posts a status message and opens a thread where the video arrives. "
            "Under a finished video: **Re-roll** makes another take, **Remix** takes a new prompt, **Delete** takes "
            "it down (for the requester and moderators). While a video waits or is being made, **Cancel** on its "
            "status message stops it (for the requester and moderators). When the server's videos in progress are at "
            "their limit, a new one waits its turn in a queue, its place shown on its status message.",
        ),
        "",
        translate(locale, "**/video status** `[job]` — your running jobs, or one job by its id."),
        translate(locale, "**/video show** `job` — post a finished video again here, with its buttons."),
        translate(locale, "**/video history** — your recent videos."),
        translate(locale, "**/video models** — what each model can do and costs."),
        "",
        translate(
            locale,
            "Reference images and prompts are sent to the video provider. Providers refuse real people, faces in "
            "reference images, copyrighted characters and adult content.",
        ),
    ]
    embed.description = "\n".join(paragraphs)
    return embed


def job_summary(job: Job, locale: str | None, private_link: str | None = None) -> str:
    """One line about a job for /video status and /video history; ``private_link`` is the video of a private job
    that reached the member nowhere."""
    link = message_link(job.guild_id, job.channel_id, job.status_message_id) if not job.private else None
    if job.private and job.dm_channel_id is not None and job.status_message_id is not None:
        link = f"https://discord.com/channels/@me/{job.dm_channel_id}/{job.status_message_id}"
    prompt = _preview(job.prompt, 60)
    where = " · " + translate(locale, "[status]({link})", link=link) if link else ""
    state = progress_line(job, locale) if not job.status.is_terminal else _STATE_WORDS[job.status].render(locale)
    if job.status is JobStatus.FAILED and job.error_kind is not None:
        state += f" ({_ERROR_KINDS[job.error_kind].render(locale)})"
    if job.status is JobStatus.CANCELLED:
        who = f"<@{job.cancelled_by}>"
        if job.sent:
            state += " " + translate(locale, "by {who} (credits spent)", who=who)
        else:
            state += " " + translate(locale, "by {who} (credits given back)", who=who)
    elif job.delivery_state is DeliveryState.FAILED:
        state += " · " + translate(
            locale, "could not be posted on Discord (a moderator can check the bot's permissions)"
        )
    elif job.status.is_terminal and job.delivery_state is not DeliveryState.DELIVERED:
        state += " · " + translate(locale, "being posted")
    elif job.private and job.status is JobStatus.SUCCEEDED and job.result_message_id is None:
        state += " · " + translate(locale, "private, but {where}", where=private_whereabouts(job, private_link, locale))
    elif job.private and job.status is JobStatus.SUCCEEDED:
        by_dm = job.result_channel_id != job.channel_id  # a private reply lives in the command's channel
        sent = _("sent to you by DM") if by_dm else _("sent to you in your command's private reply")
        state += " · " + sent.render(locale)
    task = " · " + translate(locale, "task {task}", task=f"`{job.task_id}`") if job.task_id else ""
    private = " · " + translate(locale, "private") if job.private else ""
    return f"`{job.id}` {job.model}{private} · {state} · {prompt!r}{task}{where}"


def quota_embed(status: QuotaStatus, locale: str | None) -> discord.Embed:
    """A member's credits, the server's pools, their cooldown and jobs in flight, with small bars."""
    limits, usage, periods = status.limits, status.usage, status.periods
    embed = discord.Embed(title=translate(locale, "Your video credits"), colour=COLOUR_RUNNING)
    bonus = ""
    if usage.bonus_balance:
        bonus = "\n" + translate(
            locale, "+ {bonus} bonus credits (used after the daily allowance)", bonus=f"{usage.bonus_balance:g}"
        )
    today = _meter(usage.user_today, limits.user_daily, locale) + bonus
    embed.add_field(name=translate(locale, "Today"), value=today, inline=False)
    server_today = _meter(usage.guild_today, limits.guild_daily, locale)
    embed.add_field(name=translate(locale, "Server today"), value=server_today, inline=False)
    server_month = _meter(usage.guild_month, limits.guild_monthly, locale)
    embed.add_field(name=translate(locale, "Server this month"), value=server_month, inline=False)
    if status.cooldown_until:
        ready = translate(locale, "wait until {when}", when=f"<t:{int(status.cooldown_until) + 1}:T>")
    else:
        ready = translate(locale, "ready")
    embed.add_field(name=translate(locale, "Next video"), value=ready)
    embed.add_field(
        name=translate(locale, "In progress"),
        value=translate(
            locale,
            "you {mine}/{my_cap} · server {server}/{server_cap}",
            mine=usage.user_in_flight,
            my_cap=_cap(limits.max_jobs_user),
            server=usage.guild_in_flight,
            server_cap=_cap(limits.max_jobs_guild),
        )
        + (
            "\n"
            + translate(
                locale, "waiting: you {mine} · server {server}", mine=usage.user_waiting, server=usage.guild_waiting
            )
            if usage.guild_waiting
            else ""
        ),
    )
    embed.set_footer(
        text=translate(locale, "A video costs its length in seconds times the model's rate (see /video models).")
    )
    resets = translate(
        locale,
        "daily {day} · monthly {month}",
        day=f"<t:{int(periods.day_end)}:R>",
        month=f"<t:{int(periods.month_end)}:R>",
    )
    embed.add_field(name=translate(locale, "Resets"), value=resets)
    return embed


def _meter(used: float, cap: float, locale: str | None, width: int = 12) -> str:
    if not cap:
        return translate(locale, "{used} used · no limit", used=f"{used:g}")
    filled = min(width, round(width * used / cap))
    counts = translate(
        locale,
        "{used} / {cap} used · {left} left",
        used=f"{used:g}",
        cap=f"{cap:g}",
        left=f"{max(0.0, cap - used):g}",
    )
    return f"`{'#' * filled}{'.' * (width - filled)}` {counts}"


def _cap(value: int) -> str:
    return str(value) if value else "∞"


def _title(job: Job) -> str:
    if job.result_deleted_at is not None:
        return translate(job.post_locale, "Video deleted")
    return _TITLES.get(job.status, _("Making a video")).render(job.post_locale)


def _preview(prompt: str, limit: int = PROMPT_PREVIEW_CHARS) -> str:
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


def mib(size: int) -> str:
    """A size in MiB, one decimal."""
    return f"{size / (1024 * 1024):.1f} MiB"
