"""/video show's rules: who may post a job again, which jobs have nothing to show, and the post it makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import DeliveryState, GenerationRequest, Job, JobStatus, NewJob, Orientation, WireFormat
from bot.front import render
from bot.front.results import Prepared
from bot.front.show import may_show, refusal
from bot.services import lifecycle
from bot.storage import JobStore
from bot.storage.connect import open_database
from bot.storage.guilds import GuildStore
from tests.helpers import FakeClock
from tests.jobs import fresh_job

GUILD, OWNER, OTHER = 10, 20, 30


def finished(**changes: object) -> Job:
    """A delivered job of OWNER on GUILD."""
    fields: dict[str, object] = {
        "guild_id": GUILD,
        "requester_id": OWNER,
        "status": JobStatus.SUCCEEDED,
        "delivery_state": DeliveryState.DELIVERED,
    }
    return fresh_job(**{**fields, **changes})


@pytest.mark.parametrize(
    ("user_id", "guild_id", "manage", "allowed"),
    [
        (OWNER, GUILD, False, True),
        (OTHER, GUILD, False, False),
        (OTHER, GUILD, True, True),
        (OWNER, 99, True, False),  # another server's job, whoever asks
    ],
)
def test_the_requester_or_a_moderator_of_its_server_may_show_a_job(
    user_id: int, guild_id: int, manage: bool, allowed: bool
) -> None:
    assert may_show(finished(), user_id=user_id, guild_id=guild_id, manage_messages=manage) is allowed


def test_a_private_job_is_shown_again_by_its_requester_only() -> None:
    private = finished(private=True)
    assert may_show(private, user_id=OWNER, guild_id=GUILD, manage_messages=False)
    assert not may_show(private, user_id=OTHER, guild_id=GUILD, manage_messages=True)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"forgotten_at": 5.0, "prompt": ""}, "erased with /video forget"),
        ({"result_deleted_at": 5.0}, "was deleted"),
        ({"status": JobStatus.FAILED}, "failed, so it has no video"),
        ({"status": JobStatus.CANCELLED}, "was cancelled"),
        ({"status": JobStatus.RUNNING, "delivery_state": DeliveryState.NONE}, "still being made"),
        ({"delivery_state": DeliveryState.DELIVERING}, "being posted right now"),
        ({"delivery_state": DeliveryState.PENDING}, "being posted right now"),
    ],
)
def test_jobs_without_a_result_to_show_are_refused_in_words(changes: dict[str, object], words: str) -> None:
    reason = refusal(finished(**changes))
    assert reason is not None and words in str(reason)


def test_a_delivered_job_and_one_whose_post_failed_can_be_shown() -> None:
    assert refusal(finished()) is None
    assert refusal(finished(delivery_state=DeliveryState.FAILED)) is None


def test_a_video_post_carries_the_buttons_and_a_link_post_does_not(tmp_path: Path) -> None:
    video = tmp_path / "abcd2345.mp4"
    video.write_bytes(b"mp4")
    posted = Prepared("posted", "ready", video).post(finished(id="abcd2345"))
    assert [f.filename for f in posted["files"]] == ["reelbot-abcd2345.mp4"]
    assert [item.custom_id for item in posted["view"].children] == [
        "reelbot:reroll:abcd2345",
        "reelbot:remix:abcd2345",
        "reelbot:delete:abcd2345",
    ]
    linked = Prepared("linked", "here is a link", None).post(finished(id="abcd2345"))
    assert linked == {"content": "here is a link", "embeds": [], "files": []}


def test_an_autocomplete_choice_fits_discords_limit() -> None:
    choice = render.show_choice(finished(prompt="a very long prompt " * 20))
    assert choice.startswith("abcd2345 · a very long prompt") and len(choice) == render.CHOICE_NAME_CHARS


async def test_copies_are_kept_per_job_dropped_once_deleted_and_forgotten_with_their_member(
    database_location: Path | str,
) -> None:
    clock = FakeClock(1_000.0)
    db = await open_database(database_location)
    try:
        store, guilds = JobStore(db, clock), GuildStore(db, clock)
        request = GenerationRequest(prompt="a kite", model="sora-2", orientation=Orientation.LANDSCAPE, duration=8)
        jobs = [
            await store.add(
                lifecycle.created(
                    NewJob(request=request, requester_id=owner, guild_id=GUILD, channel_id=5),
                    WireFormat.OPENAI,
                    clock.now,
                    clock.now + 60,
                )
            )
            for owner in (OWNER, OWNER, OTHER)
        ]
        mine, also_mine, theirs = (job.id for job in jobs)
        for job_id, channel_id, message_id in ((mine, 5, 9_000_000_000_002), (mine, 6, 9_000_000_000_001)):
            await store.add_shown_copy(job_id, channel_id, message_id)
        await store.add_shown_copy(also_mine, 5, 103)
        await store.add_shown_copy(theirs, 5, 104)
        assert await store.shown_copies(mine) == [(6, 9_000_000_000_001), (5, 9_000_000_000_002)]  # big ids fit
        assert sorted(await guilds.shown_copies_of(GUILD, OWNER)) == [
            (5, 103),
            (5, 9_000_000_000_002),
            (6, 9_000_000_000_001),
        ]
        await store.drop_shown_copies([9_000_000_000_001])
        assert await store.shown_copies(mine) == [(5, 9_000_000_000_002)]
        await guilds.forget_user(GUILD, OWNER)
        assert await guilds.shown_copies_of(GUILD, OWNER) == [] and await store.shown_copies(mine) == []
        assert await store.shown_copies(theirs) == [(5, 104)]
    finally:
        await db.close()
