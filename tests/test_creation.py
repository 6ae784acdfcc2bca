"""The creation service on its own, with no Discord: an engine against the simulator, members as plain data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import ErrorKind, JobStatus, NewJob
from bot.engine import Engine, open_engine
from bot.errors import UserFacingError
from bot.services.creation import Ask, Checked
from bot.services.moderation import ModerationRefusal, Requester
from bot.services.quotas import QuotaRefusal
from bot.settings import Settings
from bot.storage.guilds import LedgerKind, ListKind
from tests.helpers import engine_env

MODEL = "veo-3.1-fast-generate-preview"
GUILD, USER, CHANNEL = 10, 20, 30
MEMBER = Requester(guild_id=GUILD, user_id=USER, channel_id=CHANNEL, role_ids=frozenset())


def new_job(checked: Checked) -> NewJob:
    return NewJob(request=checked.request, origin="discord", requester_id=USER, guild_id=GUILD, channel_id=CHANNEL)


async def ledger(engine: Engine) -> list[LedgerKind]:
    return [row.kind for row in await engine.guilds.ledger(GUILD, USER)]


async def test_a_moderation_refusal_holds_nothing_stores_nothing_and_counts_its_strike(
    engine: Engine, sim: Simulator
) -> None:
    await engine.guilds.add_to_list(GUILD, ListKind.BLOCKED_WORD, "forbidden")

    with pytest.raises(ModerationRefusal) as refused:
        await engine.creation.check(Ask(prompt="something forbidden", model=MODEL), MEMBER)

    assert refused.value.strike
    assert await ledger(engine) == []
    status = await engine.quotas.status(GUILD, USER, ())
    assert status.usage.recent_strikes == 1 and status.usage.user_in_flight == 0
    assert sim.stats.route_classes["create"] == 0


async def test_the_credits_are_held_and_the_job_stored_before_anything_is_submitted(
    engine: Engine, sim: Simulator
) -> None:
    checked = await engine.creation.check(Ask(prompt="a lighthouse at dusk", model=MODEL), MEMBER)
    job = await engine.creation.reserve(checked, new_job(checked))

    # Stored and held, not yet sent: a job waiting its turn is in this state, and is started later.
    assert await ledger(engine) == [LedgerKind.RESERVE]
    assert (await engine.store.get(job.id)) is not None
    assert sim.stats.route_classes["create"] == 0

    started = await engine.creation.start(job, checked.request)

    assert not started.refused and started.job.task_id is not None
    assert sim.stats.route_classes["create"] == 1
    assert await ledger(engine) == [LedgerKind.RESERVE]


async def test_a_refused_submit_gives_the_credits_back_and_pauses_every_server_once(
    engine: Engine, sim: Simulator
) -> None:
    sim.faults.exhaust_balance(count=2)
    reserved = []
    for prompt in ("first", "second"):
        checked = await engine.creation.check(Ask(prompt=prompt, model=MODEL), MEMBER)
        reserved.append((await engine.creation.reserve(checked, new_job(checked)), checked.request))
    notices = []
    for job, request in reserved:
        started = await engine.creation.start(job, request, refusal_told=True)
        assert started.refused and started.job.error_kind is ErrorKind.BALANCE
        notices.append(started.pause_notice)

    assert await ledger(engine) == [LedgerKind.RESERVE] * 2 + [LedgerKind.REFUND] * 2
    assert notices[0] is not None and "paused on every server" in notices[0]
    assert notices[1] is None  # told once
    # Paused: the next member's request is refused before anything is held.
    with pytest.raises(ModerationRefusal):
        await engine.creation.check(Ask(prompt="third", model=MODEL), MEMBER)
    assert await ledger(engine) == [LedgerKind.RESERVE] * 2 + [LedgerKind.REFUND] * 2


async def test_a_quota_refusal_stores_nothing_and_submits_nothing(sim: Simulator, tmp_path: Path) -> None:
    settings = Settings.from_env(engine_env(sim, tmp_path, QUOTA_USER_DAILY_CREDITS="1"), need_discord=False)
    async with open_engine(settings, Catalog.load()) as engine:
        checked = await engine.creation.check(Ask(prompt="too dear", model=MODEL), MEMBER)
        with pytest.raises(QuotaRefusal):
            await engine.creation.reserve(checked, new_job(checked))
        assert await ledger(engine) == []
        assert (await engine.quotas.status(GUILD, USER, ())).usage.user_in_flight == 0

    assert sim.stats.route_classes["create"] == 0


async def test_the_operator_from_the_terminal_is_not_moderated_held_or_paused(engine: Engine, sim: Simulator) -> None:
    sim.faults.exhaust_balance()
    checked = await engine.creation.check(Ask(prompt="from the terminal", model=MODEL), who=None)
    started = await engine.creation.submit(checked, NewJob(request=checked.request, origin="cli"))

    assert started.refused and started.job.status is JobStatus.FAILED
    assert started.pause_notice is None
    assert await ledger(engine) == []
    await engine.creation.check(Ask(prompt="members still may", model=MODEL), MEMBER)


async def test_attached_pictures_are_counted_against_the_model_before_moderation(engine: Engine) -> None:
    await engine.guilds.add_to_list(GUILD, ListKind.BLOCKED_WORD, "forbidden")
    spec = engine.jobs.model(MODEL)

    with pytest.raises(UserFacingError, match="reference image") as refused:
        await engine.creation.check(Ask(prompt="forbidden", model=MODEL, attached_images=spec.max_images + 1), MEMBER)

    assert not isinstance(refused.value, ModerationRefusal)
    assert (await engine.quotas.status(GUILD, USER, ())).usage.recent_strikes == 0


async def test_an_attached_picture_meets_a_picture_based_models_minimum(engine: Engine) -> None:
    spec = engine.jobs.model("wan2.5-i2v-preview")
    assert spec.min_images == 1

    checked = await engine.creation.check(Ask(prompt="a kite", model=spec.name, attached_images=1), MEMBER)
    with pytest.raises(UserFacingError, match="attach 1 reference image"):
        await engine.creation.check(Ask(prompt="a kite", model=spec.name), MEMBER)

    assert checked.spec is spec


async def test_an_attached_last_frame_is_refused_by_a_model_without_one(engine: Engine) -> None:
    assert not engine.jobs.model(MODEL).takes_last_frame

    with pytest.raises(UserFacingError, match="last frame"):
        await engine.creation.check(Ask(prompt="a door", model=MODEL, attached_last_frame=True), MEMBER)
