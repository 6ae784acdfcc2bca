"""Pure builders of what members see: status embeds, result and failure text, model and help listings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import discord

from bot.catalog import ModelSpec
from bot.domain import DeliveryState, Job, JobStatus
from bot.progress_bar import render_bar
from bot.services.quotas import QuotaStatus

COLOUR_RUNNING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_DELETED = discord.Colour.dark_grey()
PROMPT_PREVIEW_CHARS = 1000
CHOICE_NAME_CHARS = 100  # Discord refuses a longer autocomplete choice or select option label
BAR_WIDTH = 20

_STATE_WORDS = {
    JobStatus.WAITING: "Waiting for a free slot",
    JobStatus.SUBMITTING: "Sending to the video service…",
    JobStatus.QUEUED: "Queued",
    JobStatus.RUNNING: "Generating",
    JobStatus.SUCCEEDED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


def job_marker(job_id: str) -> str:
    """The text every message about a job carries, so a restarted bot can find what it already posted."""
    return f"job `{job_id}`"


def deleted_thread_name(job_id: str) -> str:
    """A deleted video's thread name, which no longer shows its prompt."""
    return f"Deleted video · {job_id}"


def message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str | None:
    """A jump link to a message, when all its parts are known."""
    if guild_id is None or channel_id is None or message_id is None:
        return None
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


def status_embed(job: Job, *, result_link: str | None = None, note: str | None = None) -> discord.Embed:
    """The public status message's embed for a job in any state."""
    colour = {JobStatus.SUCCEEDED: COLOUR_DONE, JobStatus.FAILED: COLOUR_FAILED}.get(job.status, COLOUR_RUNNING)
    if job.result_deleted_at is not None or job.status is JobStatus.CANCELLED:
        colour = COLOUR_DELETED
    prompt = _preview(job.prompt) if job.result_deleted_at is None else "The prompt is hidden: this video was deleted."
    embed = discord.Embed(title=_title(job), description=prompt, colour=colour)
    embed.add_field(name="Model", value=job.model)
    embed.add_field(name="Orientation", value=job.orientation.value)
    embed.add_field(name="Duration", value=f"{job.duration} s{' · HD' if job.hd else ''}")
    if job.requester_id is not None:
        embed.add_field(name="Requested by", value=f"<@{job.requester_id}>")
    embed.add_field(name="Progress", value=progress_line(job), inline=False)
    if job.status is JobStatus.FAILED and job.error_message:
        embed.add_field(name="What happened", value=job.error_message[:1024], inline=False)
    if job.status is JobStatus.CANCELLED:
        embed.add_field(name="What happened", value=cancelled_text(job), inline=False)
    if result_link:
        embed.add_field(name="Result", value=f"[Open the video]({result_link})", inline=False)
    if note:
        embed.add_field(name="Note", value=note[:1024], inline=False)
    embed.set_footer(text=f"Job {job.id}")
    return embed


def progress_line(job: Job) -> str:
    """A bar, a percentage and the time the job started, shown relative by Discord clients."""
    if job.result_deleted_at is not None:
        return "The result was deleted."
    state = _STATE_WORDS[job.status]
    if job.status.is_terminal:
        return state
    if job.status is JobStatus.WAITING:
        return waiting_line(job)
    started = int(job.started_at)
    percent = f" {job.progress}%" if job.progress is not None else ""
    slow = " · taking longer than usual" if job.slow_notified else ""
    return f"`{render_bar(job.progress, BAR_WIDTH)}`{percent} · {state} · started <t:{started}:R>{slow}"


def waiting_line(job: Job) -> str:
    """Where a waiting job stands in its server's queue: "waiting: position N of M, about K min" (or paused)."""
    if job.queue_position is None or job.queue_size is None:
        return "waiting for a free slot · its place in the queue is being worked out"
    place = f"waiting: position {job.queue_position} of {job.queue_size}"
    if job.queue_paused:
        return f"{place} · paused: video generation is paused here, the queue moves once it is resumed"
    about = f", about {job.queue_minutes} min" if job.queue_minutes is not None else ""
    return f"{place}{about}"


def dropped_text(job: Job) -> str:
    """The private notice to a member whose waiting job was taken out of the queue."""
    return (
        f"Your waiting video {job_marker(job.id)} was taken out of the queue and will not be made: "
        f"{job.error_message or 'it is no longer allowed.'} Its credits are back."
    )


def cancelled_text(job: Job) -> str:
    """Who cancelled a job and when, and what became of its credits."""
    when = f" <t:{int(job.cancelled_at)}:R>" if job.cancelled_at is not None else ""
    credits = (
        "The video provider had already started it, so its credits were spent; nothing will be posted."
        if job.sent
        else "It was never sent to the video provider, so its credits were given back."
    )
    return f"Cancelled by <@{job.cancelled_by}>{when}. {credits}"


def cancel_sent_text(job: Job) -> str:
    """The private question before cancelling a job the provider has already started."""
    return (
        f"The video provider has already started {job_marker(job.id)}, and it cannot be stopped there: its credits "
        "stay spent even if you cancel. Cancelling now frees the slot and nothing will be posted. Cancel anyway?"
    )


# After "its stored files" or "the stored files of N of them": what became of them, and what follows.
FILES_LATER: Final = (
    "could not be deleted yet: the file storage failed. The bot deletes them by itself as soon as the storage works "
    "again (it tries every few minutes, after a restart too); until then their download links may still work. "
    "There is nothing you need to do."
)


def deleted_text(files_deleted: bool) -> str:
    """The private answer to Delete: the video is gone, or all but its stored files, which follow."""
    if files_deleted:
        return "The video was deleted."
    return f"The video was deleted from Discord and its prompt hidden, but its stored files {FILES_LATER}"


def purged_text(deleted: int, files_left: int, mention: str) -> str:
    """What /video-purge took down, and whether some stored files follow later."""
    text = f"Deleted {deleted} video{'s' if deleted != 1 else ''} by {mention}."
    return f"{text} The stored files of {files_left} of them {FILES_LATER}" if files_left else text


def result_text(job: Job) -> str:
    """The text above a delivered video."""
    return f"<@{job.requester_id}> your video is ready · {job_marker(job.id)}"


def shown_again_line(job: Job, shown_by: int) -> str:
    """The first line of a result posted again with /video show."""
    return f"-# Shown again by <@{shown_by}> with /video show · made for <@{job.requester_id}>"


def show_choice(job: Job) -> str:
    """A finished job as /video show's autocomplete offers it: its id and the start of its prompt."""
    head = f"{job.id} · "
    return head + _preview(" ".join(job.prompt.split()), CHOICE_NAME_CHARS - len(head))


def failure_text(job: Job) -> str:
    """The text of a failure notice in the job's thread."""
    reason = job.error_message or "The video could not be made."
    return f"<@{job.requester_id}> {job_marker(job.id)} failed. {reason}"


def too_large_text(job: Job, limit_bytes: int) -> str:
    """The post for a video over the upload limit that could neither be shrunk nor linked."""
    size = job.result_bytes or 0
    return (
        f"<@{job.requester_id}> your video is ready, but it is {mib(size)}, over this server's "
        f"{mib(limit_bytes)} upload limit, and it could not be shrunk to fit. It is kept as {job_marker(job.id)}: "
        f"a server admin can ask the bot's operator for the file `{job.id}.mp4` in the bot's results folder."
    )


def compressed_note(original_bytes: int, limit_bytes: int, full_link: str | None) -> str:
    """The line under a video that was re-encoded to fit."""
    note = f"-# Compressed from {mib(original_bytes)} to fit this server's {mib(limit_bytes)} upload limit."
    return f"{note} Full quality: <{full_link}>" if full_link else note


def linked_text(job: Job, link: str) -> str:
    """The post for a video too large to attach, linked from the bot's media server."""
    return (
        f"<@{job.requester_id}> your video is ready · {job_marker(job.id)}\n"
        f"It is too large for this server's upload limit, so it is here (the link works for a few days): {link}"
    )


def private_unreachable_text() -> str:
    """Why a private job could not start: neither the member's DMs nor their private reply took its status."""
    return (
        "I could not send you this private video's status, by DM or privately here, so nothing was started and "
        "nothing was charged. Allow direct messages from this server's members (Privacy Settings), then try again."
    )


def private_reply_text(link: str | None) -> str:
    """The line above a private result posted in the member's private reply, their DMs being closed to the bot."""
    note = "Your DMs are closed to me, so here is your private video. Discord removes this message when you reload"
    if link is None:
        return f"{note}: save the video now."
    return f"{note}; the video stays here for a few days: <{link}>"


def private_whereabouts(job: Job, link: str | None) -> str:
    """Where a delivered private job's video is, when neither the member's DMs nor their private reply took it."""
    said = (
        "it could not reach you: your DMs are closed to me, and the private reply of your command had expired "
        "(Discord keeps it 15 minutes)"
    )
    if link is not None:
        return f"{said}. Download it here (the link works for a few days): <{link}>"
    return f"{said}. Ask a moderator: the bot's operator keeps it as `{job.id}.mp4` for a few days."


def models_embed(offered: Sequence[ModelSpec]) -> discord.Embed:
    """Every model members may pick, with its durations, orientations, images and cost; the first is the default."""
    embed = discord.Embed(title="Video models", colour=COLOUR_RUNNING)
    for spec in offered:
        hd = f" · HD ({', '.join(o.value for o in spec.hd_orientations)})" if spec.hd_orientations else ""
        images = f"up to {spec.max_images} reference image{'s' if spec.max_images != 1 else ''}"
        if spec.max_images == 0:
            images = "no reference images"
        last = " · a last frame" if spec.takes_last_frame else ""
        embed.add_field(
            name=f"{spec.label} (`{spec.name}`)",
            value=(
                f"{', '.join(str(d) for d in spec.durations)} seconds (default {spec.default_duration})\n"
                f"{' / '.join(o.value for o in spec.orientations)} · {images}{last}{hd}\n"
                f"{spec.credits_per_second:g} credit{'s' if spec.credits_per_second != 1 else ''} per second"
            ),
            inline=False,
        )
    if offered:
        embed.set_footer(text=f"The default model is {offered[0].name}.")
    else:
        embed.description = "The video service offers none of this bot's models right now. Tell the bot's operator."
    return embed


def help_embed(default: str) -> discord.Embed:
    """How to use the bot, in a few lines; ``default`` names the default model."""
    embed = discord.Embed(title="Making videos with Reelbot", colour=COLOUR_RUNNING)
    embed.description = (
        "**/video create** `prompt` — describe the video. Options: `orientation` (landscape or portrait), "
        f"`model` (default {default}), `duration`, up to three reference images (`image`, `image2`, "
        "`image3`: PNG, JPEG, WebP or GIF), a `last_frame` for models that end on a given picture, "
        "`hd` where the model offers it, and `private` to get the status and the video by DM, nothing public.\n"
        "The bot answers privately, then posts a status message and opens a thread where the video arrives. "
        "Under a finished video: **Re-roll** makes another take, **Remix** takes a new prompt, "
        "**Delete** takes it down (for the requester and moderators). While a video waits or is being made, "
        "**Cancel** on its status message stops it (for the requester and moderators). When the server's videos in "
        "progress are at their limit, a new one waits its turn in a queue, its place shown on its status message.\n\n"
        "**/video status** `[job]` — your running jobs, or one job by its id.\n"
        "**/video show** `job` — post a finished video again here, with its buttons.\n"
        "**/video history** — your recent videos.\n"
        "**/video models** — what each model can do and costs.\n\n"
        "Reference images and prompts are sent to the video provider. Providers refuse real people, "
        "faces in reference images, copyrighted characters and adult content."
    )
    return embed


def job_summary(job: Job, private_link: str | None = None) -> str:
    """One line about a job for /video status and /video history; ``private_link`` is the video of a private job
    that reached the member nowhere."""
    link = message_link(job.guild_id, job.channel_id, job.status_message_id) if not job.private else None
    if job.private and job.dm_channel_id is not None and job.status_message_id is not None:
        link = f"https://discord.com/channels/@me/{job.dm_channel_id}/{job.status_message_id}"
    prompt = _preview(job.prompt, 60)
    where = f" · [status]({link})" if link else ""
    state = progress_line(job) if not job.status.is_terminal else _STATE_WORDS[job.status]
    if job.status is JobStatus.FAILED and job.error_kind is not None:
        state += f" ({job.error_kind.value.replace('_', ' ')})"
    if job.status is JobStatus.CANCELLED:
        state += f" by <@{job.cancelled_by}>" + (" (credits spent)" if job.sent else " (credits given back)")
    elif job.delivery_state is DeliveryState.FAILED:
        state += " · could not be posted on Discord (a moderator can check the bot's permissions)"
    elif job.status.is_terminal and job.delivery_state is not DeliveryState.DELIVERED:
        state += " · being posted"
    elif job.private and job.status is JobStatus.SUCCEEDED and job.result_message_id is None:
        state += f" · private, but {private_whereabouts(job, private_link)}"
    elif job.private and job.status is JobStatus.SUCCEEDED:
        by_dm = job.result_channel_id != job.channel_id  # a private reply lives in the command's channel
        state += " · sent to you by DM" if by_dm else " · sent to you in your command's private reply"
    task = f" · task `{job.task_id}`" if job.task_id else ""
    private = " · private" if job.private else ""
    return f"`{job.id}` {job.model}{private} · {state} · {prompt!r}{task}{where}"


def quota_embed(status: QuotaStatus) -> discord.Embed:
    """A member's credits, the server's pools, their cooldown and jobs in flight, with small bars."""
    limits, usage, periods = status.limits, status.usage, status.periods
    embed = discord.Embed(title="Your video credits", colour=COLOUR_RUNNING)
    bonus = f"\n+ {usage.bonus_balance:g} bonus credits (used after the daily allowance)" if usage.bonus_balance else ""
    embed.add_field(name="Today", value=_meter(usage.user_today, limits.user_daily) + bonus, inline=False)
    embed.add_field(name="Server today", value=_meter(usage.guild_today, limits.guild_daily), inline=False)
    embed.add_field(name="Server this month", value=_meter(usage.guild_month, limits.guild_monthly), inline=False)
    ready = f"wait until <t:{int(status.cooldown_until) + 1}:T>" if status.cooldown_until else "ready"
    embed.add_field(name="Next video", value=ready)
    embed.add_field(
        name="In progress",
        value=f"you {usage.user_in_flight}/{_cap(limits.max_jobs_user)} · "
        f"server {usage.guild_in_flight}/{_cap(limits.max_jobs_guild)}"
        + (f"\nwaiting: you {usage.user_waiting} · server {usage.guild_waiting}" if usage.guild_waiting else ""),
    )
    embed.set_footer(text="A video costs its length in seconds times the model's rate (see /video models).")
    embed.add_field(name="Resets", value=f"daily <t:{int(periods.day_end)}:R> · monthly <t:{int(periods.month_end)}:R>")
    return embed


def _meter(used: float, cap: float, width: int = 12) -> str:
    if not cap:
        return f"{used:g} used · no limit"
    filled = min(width, round(width * used / cap))
    return f"`{'#' * filled}{'.' * (width - filled)}` {used:g} / {cap:g} used · {max(0.0, cap - used):g} left"


def _cap(value: int) -> str:
    return str(value) if value else "∞"


def _title(job: Job) -> str:
    if job.result_deleted_at is not None:
        return "Video deleted"
    return {
        JobStatus.SUCCEEDED: "Video ready",
        JobStatus.FAILED: "Video failed",
        JobStatus.CANCELLED: "Video cancelled",
    }.get(job.status, "Making a video")


def _preview(prompt: str, limit: int = PROMPT_PREVIEW_CHARS) -> str:
    return prompt if len(prompt) <= limit else prompt[: limit - 1] + "…"


def mib(size: int) -> str:
    """A size in MiB, one decimal."""
    return f"{size / (1024 * 1024):.1f} MiB"
