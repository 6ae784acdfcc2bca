"""A member's defaults fill what /video create leaves out, and a stale one gives way instead of refusing."""

from __future__ import annotations

import dataclasses

from bot.catalog import Catalog
from bot.devtools.gateway import Simulator
from bot.domain import Orientation
from bot.engine import Engine, open_engine
from bot.front.member_settings import Chosen, SettingSelect, fill_in, settings_view
from bot.services.served import ServedModels
from bot.settings import Settings
from bot.storage.guilds import MemberDefaults

GUILD, MEMBER = 1, 2


async def test_defaults_apply_where_the_model_allows_them(settings: Settings, sim: Simulator) -> None:
    sim.serve_models(("veo-3.1-fast-generate-preview", "veo-3.1-generate-preview", "kling-v2-1"))
    async with open_engine(settings, Catalog.load()) as engine:
        await engine.models.refresh()
        models = engine.models
        await engine.guilds.set_member_defaults(
            GUILD, MEMBER, MemberDefaults(model="kling-v2-1", orientation="portrait", duration=10, hd=True)
        )
        mine = await engine.guilds.member_defaults(GUILD, MEMBER)
        assert mine == MemberDefaults(model="kling-v2-1", orientation="portrait", duration=10, hd=True)

        left_out = fill_in(mine, models, model=None, orientation=None, duration=None, hd=None)
        # Kling has no HD: the default gives way rather than refusing the video.
        assert left_out == Chosen(model="kling-v2-1", orientation=Orientation.PORTRAIT, duration=10, hd=False)

        typed = fill_in(mine, models, model="veo-3.1-generate-preview", orientation="landscape", duration=None, hd=None)
        # Veo has no 10-second videos (its own length is used, and the acknowledgement says so) but has HD.
        assert dataclasses.replace(typed, set_aside=()) == Chosen(
            model="veo-3.1-generate-preview", orientation=Orientation.LANDSCAPE, duration=None, hd=True
        )
        assert [str(note) for note in typed.set_aside] == [
            "Veo 3.1 does not make 10-second videos, so this one is 8 seconds, its own length (your default is kept)."
        ]
        assert fill_in(mine, models, model=None, orientation=None, duration=5, hd=False).duration == 5

        sim.serve_models(("veo-3.1-fast-generate-preview",))
        await engine.models.refresh()
        # The default model is no longer offered: the server's first model makes the video, and the member is told.
        passed_over = fill_in(mine, models, model=None, orientation=None, duration=None, hd=None)
        assert passed_over.model is None
        assert "Your default model `kling-v2-1` is not available now" in str(passed_over.set_aside[0])

        await engine.guilds.forget_user(GUILD, MEMBER)
        assert await engine.guilds.member_defaults(GUILD, MEMBER) == MemberDefaults()


async def test_a_default_orientation_the_model_lacks_gives_way_to_its_own(engine: Engine) -> None:
    kling = engine.models.catalog.get("kling-v2-1")
    assert kling is not None
    wide = dataclasses.replace(kling, name="wide-only", label="Wide Only", sizes={Orientation.LANDSCAPE: "1280x720"})
    tall = dataclasses.replace(kling, name="tall-only", label="Tall Only", sizes={Orientation.PORTRAIT: "720x1280"})
    models = ServedModels(Catalog((wide, tall), "test"), engine.client, engine.store)
    portrait = MemberDefaults(orientation="portrait")

    chosen = fill_in(portrait, models, model=None, orientation=None, duration=None, hd=None)
    assert chosen.orientation is Orientation.LANDSCAPE
    assert [str(note) for note in chosen.set_aside] == [
        "Wide Only does not make portrait videos, so this one is landscape (your default is kept)."
    ]
    # The default applies where the model has it; with no default, the model's own (first) orientation.
    assert fill_in(portrait, models, model="tall-only", orientation=None, duration=None, hd=None).set_aside == ()
    assert fill_in(MemberDefaults(), models, model="tall-only", orientation=None, duration=None, hd=None) == Chosen(
        model="tall-only", orientation=Orientation.PORTRAIT, duration=None, hd=False
    )
    # What the member typed is theirs: it is not set aside (the model refuses it in words when the job is checked).
    typed = fill_in(portrait, models, model=None, orientation="portrait", duration=None, hd=None)
    assert typed.orientation is Orientation.PORTRAIT and typed.set_aside == ()


def test_menu_options_stay_within_discords_limits() -> None:
    kling = Catalog.load().get("kling-v2-1")
    assert kling is not None
    wordy = dataclasses.replace(kling, name="wordy", label="A model with a very long label " * 6)
    view = settings_view(MemberDefaults(model="wordy"), [wordy], None)
    menus = [item for item in view.children if isinstance(item, SettingSelect)]
    options = [option for menu in menus for option in menu.item.options]
    assert max(len(option.label) for option in options) == 100
    assert all(len(option.description or "") <= 100 for option in options)
    (chosen,) = [option for option in menus[0].item.options if option.default]
    assert chosen.value == "wordy" and chosen.description == "wordy · 5, 10 s · 1 credit per second"


async def test_a_private_default_applies_unless_the_command_says_otherwise(settings: Settings, sim: Simulator) -> None:
    sim.serve_models(("veo-3.1-fast-generate-preview",))
    async with open_engine(settings, Catalog.load()) as engine:
        await engine.models.refresh()
        await engine.guilds.set_member_defaults(GUILD, MEMBER, MemberDefaults(private=True))
        mine = await engine.guilds.member_defaults(GUILD, MEMBER)
        assert mine == MemberDefaults(private=True)

        left_out = fill_in(mine, engine.models, model=None, orientation=None, duration=None, hd=None)
        assert (left_out.private, left_out.private_by_default) == (True, True)
        public = fill_in(mine, engine.models, model=None, orientation=None, duration=None, hd=None, private=False)
        assert (public.private, public.private_by_default) == (False, False)
        asked = fill_in(
            MemberDefaults(), engine.models, model=None, orientation=None, duration=None, hd=None, private=True
        )
        assert (asked.private, asked.private_by_default) == (True, False)

        await engine.guilds.forget_user(GUILD, MEMBER)
        assert await engine.guilds.member_defaults(GUILD, MEMBER) == MemberDefaults()
