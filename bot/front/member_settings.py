"""/video settings: a member's own defaults on a server, picked with select menus, and where /video create uses them.

The menus' custom ids name only the field (``reelbot:settings:<field>``): whoever picks is the member whose
defaults change, so the menus keep working after a restart.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import discord

from bot.catalog import ModelSpec
from bot.domain import Orientation
from bot.front import private, render, replies
from bot.front.host import host_of
from bot.front.i18n import member_locale
from bot.front.replies import report_error
from bot.locales import Text, _, translate, translate_plural
from bot.storage.guilds import MemberDefaults

if TYPE_CHECKING:
    from bot.services.served import ServedModels

NO_DEFAULT: Final = "none"
SELECT_OPTIONS_LIMIT: Final = 25  # Discord's limit per select menu
OPTION_TEXT_LIMIT: Final = render.CHOICE_NAME_CHARS  # Discord's limit for an option's label and description
FIELDS: Final = ("model", "orientation", "duration", "hd", "private")
_PLACEHOLDERS: Final = {
    "model": _("Default model"),
    "orientation": _("Default orientation"),
    "duration": _("Default duration"),
    "hd": _("Default HD"),
    "private": _("Default privacy"),
}


@dataclass(frozen=True, slots=True)
class Chosen:
    """The options a /video create runs with once the member's defaults fill what they left out."""

    model: str | None
    orientation: Orientation
    duration: int | None
    hd: bool
    private: bool = False
    private_by_default: bool = False  # private because of the member's default, not the command's option
    set_aside: tuple[Text, ...] = ()
    """The member's defaults this video could not use, in words for the acknowledgement."""


def fill_in(
    defaults: MemberDefaults,
    models: ServedModels,
    *,
    model: str | None,
    orientation: str | None,
    duration: int | None,
    hd: bool | None,
    private: bool | None = None,
) -> Chosen:
    """What the member typed wins; then their defaults, where they still apply; then the model's own.

    A stale default never refuses a video: a default model no longer offered is passed over (the server's first
    model is used), and a default orientation or length the model in use lacks gives way to the model's own; each
    is named in ``set_aside`` so the acknowledgement can say so. A default HD the model lacks (in that orientation)
    is simply off, as /video settings says ("on, where offered").
    """
    unused_model = None
    if model is None and defaults.model is not None:
        kept = models.catalog.get(defaults.model)
        if kept is not None and kept in models.offered():
            model = defaults.model
        else:
            unused_model = defaults.model
    spec = models.resolve(model)
    set_aside = [replies.default_model_set_aside(unused_model, spec)] if unused_model else []
    if orientation is not None:
        facing = Orientation(orientation)
    elif defaults.orientation is not None and Orientation(defaults.orientation) in spec.orientations:
        facing = Orientation(defaults.orientation)
    else:
        facing = spec.orientations[0]
        if defaults.orientation is not None:
            set_aside.append(replies.default_orientation_set_aside(defaults.orientation, spec, facing))
    if duration is None and defaults.duration is not None:
        if defaults.duration in spec.durations:
            duration = defaults.duration
        else:
            set_aside.append(replies.default_duration_set_aside(defaults.duration, spec))
    if hd is None:
        hd = bool(defaults.hd) and facing in spec.hd_orientations
    by_default = private is None and bool(defaults.private)
    return Chosen(
        model=model,
        orientation=facing,
        duration=duration,
        hd=hd,
        private=bool(private) or by_default,
        private_by_default=by_default,
        set_aside=tuple(set_aside),
    )


def settings_embed(defaults: MemberDefaults, locale: str | None) -> discord.Embed:
    """The member's defaults, in words."""
    embed = discord.Embed(title=translate(locale, "Your defaults on this server"), colour=render.COLOUR_RUNNING)
    embed.description = translate(
        locale,
        "/video create uses these for the options you leave out. A default the chosen model cannot use gives way "
        "to the model's own. /video forget erases them.",
    )
    model = f"`{defaults.model}`" if defaults.model else translate(locale, "the server's first model")
    embed.add_field(name=translate(locale, "Model"), value=model)
    facing = (
        render.orientation_word(locale, defaults.orientation)
        if defaults.orientation
        else translate(locale, "the model's own")
    )
    embed.add_field(name=translate(locale, "Orientation"), value=facing)
    duration = (
        translate_plural(locale, "{count} second", "{count} seconds", defaults.duration)
        if defaults.duration
        else translate(locale, "the model's own")
    )
    embed.add_field(name=translate(locale, "Duration"), value=duration)
    hd = translate(locale, "on, where offered") if defaults.hd else translate(locale, "off")
    embed.add_field(name="HD", value=hd)
    privacy = translate(locale, "on: status and video by DM only") if defaults.private else translate(locale, "off")
    embed.add_field(name=translate(locale, "Private"), value=privacy)
    return embed


def settings_view(defaults: MemberDefaults, offered: Sequence[ModelSpec], locale: str | None) -> discord.ui.View:
    """One select menu per default, each showing the current choice."""
    view = discord.ui.View(timeout=None)
    for field in FIELDS:
        view.add_item(SettingSelect(field, _options(field, defaults, offered, locale), locale))
    return view


class SettingSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"reelbot:settings:(?P<field>model|orientation|duration|hd|private)",
):
    """A select menu that changes one of the picking member's defaults."""

    def __init__(
        self, field: str, options: list[discord.SelectOption] | None = None, locale: str | None = None
    ) -> None:
        """The menu for ``field``, in ``locale``'s language (a picked one is rebuilt without options)."""
        placeholder = _PLACEHOLDERS[field].render(locale) if field in _PLACEHOLDERS else field
        no_default = discord.SelectOption(label=translate(locale, "No default"), value=NO_DEFAULT)
        super().__init__(
            discord.ui.Select(
                custom_id=f"reelbot:settings:{field}", placeholder=placeholder, options=options or [no_default]
            )
        )
        self.field = field

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SettingSelect:
        """Rebuild the menu from a picked custom id (the options come with the answer)."""
        return cls(match["field"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Store the picked default and show the menus again with it."""
        try:
            await self._pick(interaction)
        except Exception as exc:
            await report_error(interaction, exc)

    async def _pick(self, interaction: discord.Interaction[Any]) -> None:
        host = host_of(interaction)
        if interaction.guild_id is None:
            said = translate(member_locale(interaction), "These menus work in a server only.")
            await interaction.response.send_message(said, ephemeral=True)
            return
        await interaction.response.defer()  # Discord waits 3 seconds at most; the database may take longer
        picked = self.item.values[0] if self.item.values else NO_DEFAULT
        guilds = host.engine.guilds
        if self.field == "private" and picked == "on":
            private.check_allowed(await guilds.config(interaction.guild_id), by_default=True)
        defaults = await guilds.member_defaults(interaction.guild_id, interaction.user.id)
        changed = _with(defaults, self.field, picked)
        await guilds.set_member_defaults(interaction.guild_id, interaction.user.id, changed)
        offered = host.engine.models.offered()
        locale = member_locale(interaction)
        await interaction.edit_original_response(
            embed=settings_embed(changed, locale), view=settings_view(changed, offered, locale)
        )


def _with(defaults: MemberDefaults, field: str, value: str) -> MemberDefaults:
    """The defaults with one field set from a menu's value."""
    unset = value == NO_DEFAULT
    match field:
        case "model":
            return dataclasses.replace(defaults, model=None if unset else value)
        case "orientation":
            return dataclasses.replace(defaults, orientation=None if unset else Orientation(value).value)
        case "duration":
            return dataclasses.replace(defaults, duration=None if unset else int(value))
        case "private":
            return dataclasses.replace(defaults, private=None if unset else value == "on")
        case _:
            return dataclasses.replace(defaults, hd=None if unset else value == "on")


def _options(
    field: str, defaults: MemberDefaults, offered: Sequence[ModelSpec], locale: str | None
) -> list[discord.SelectOption]:
    current = getattr(defaults, field)
    if field == "model":
        choices = [_option(translate(locale, "No default: the server's first model"), NO_DEFAULT, current is None)]
        choices += [
            _option(spec.label, spec.name, spec.name == current, f"{spec.name} · {_model_facts(spec, locale)}")
            for spec in offered[: SELECT_OPTIONS_LIMIT - 1]
        ]
        return choices
    if field == "orientation":
        unset = translate(locale, "No default: the model's own (landscape where it has both)")
        choices = [_option(unset, NO_DEFAULT, current is None)]
        return choices + [
            _option(render.orientation_word(locale, o.value).capitalize(), o.value, o.value == current)
            for o in Orientation
        ]
    if field == "duration":
        lengths = sorted({seconds for spec in offered for seconds in spec.durations})[: SELECT_OPTIONS_LIMIT - 1]
        choices = [_option(translate(locale, "No default: each model's own length"), NO_DEFAULT, current is None)]
        return choices + [
            _option(
                translate_plural(locale, "{count} second", "{count} seconds", seconds), str(seconds), seconds == current
            )
            for seconds in lengths
        ]
    if field == "private":
        return [
            _option(translate(locale, "No default: public"), NO_DEFAULT, current is None),
            _option(translate(locale, "Private: by DM only, nothing public"), "on", current is True),
            _option(translate(locale, "Public: status and thread in the channel"), "off", current is False),
        ]
    return [
        _option(translate(locale, "No default: HD off"), NO_DEFAULT, current is None),
        _option(translate(locale, "HD on, where the model offers it"), "on", current is True),
        _option(translate(locale, "HD off"), "off", current is False),
    ]


def _option(label: str, value: str, chosen: bool, description: str | None = None) -> discord.SelectOption:
    """A menu option within Discord's limits (it refuses a label or a description over 100 characters)."""
    short = description[:OPTION_TEXT_LIMIT] if description is not None else None
    return discord.SelectOption(label=label[:OPTION_TEXT_LIMIT], value=value, default=chosen, description=short)


def _model_facts(spec: ModelSpec, locale: str | None) -> str:
    """A model's lengths and price in a few words, under its name in the menu."""
    lengths = ", ".join(str(seconds) for seconds in spec.durations)
    rate = f"{spec.credits_per_second:g}"
    if spec.credits_per_second == 1:
        return translate(locale, "{lengths} s · {rate} credit per second", lengths=lengths, rate=rate)
    return translate(locale, "{lengths} s · {rate} credits per second", lengths=lengths, rate=rate)
