"""Credits and limits: who may spend what, decided inside the transaction that stores the job."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final

from bot.errors import UserFacingError
from bot.locales import Text, _, _n
from bot.services.periods import Periods, current_periods
from bot.settings import Settings
from bot.storage.database import Session
from bot.storage.guilds import GuildConfig, GuildStore, RawUsage

# Of a server's waiting jobs, at most this many are one member's.
QUEUE_MAX_PER_MEMBER: Final = 3


class QuotaRefusal(UserFacingError):
    """A request refused by a limit; ``reason`` names the limit for the audit log."""

    def __init__(self, user_message: Text | str, reason: str) -> None:
        super().__init__(user_message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits that apply to one member on one server; 0 means no limit."""

    user_daily: float
    guild_daily: float
    guild_monthly: float
    max_jobs_user: int
    max_jobs_guild: int
    cooldown_seconds: float
    queue_max: int = 0  # jobs that may wait for a slot on the server (0: none wait, all over a limit are refused)


@dataclass(frozen=True, slots=True)
class StrikeRule:
    """So many strikes within a window bring a cooldown; a limit of 0 turns it off."""

    limit: int
    window_seconds: float
    cooldown_seconds: float


@dataclass(frozen=True, slots=True)
class Charge:
    """How a job's cost is paid: from the daily allowance, then from bonus credits; and whether the job waits in
    the server's queue (an in-progress limit is reached) rather than starting at once."""

    credits: float
    bonus: float
    waits: bool = False


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """Everything /video quota shows."""

    limits: Limits
    usage: RawUsage
    periods: Periods
    cooldown_until: float | None


def resolve_limits(defaults: Limits, config: GuildConfig, role_caps: dict[int, float], roles: Iterable[int]) -> Limits:
    """A server's limits over the defaults; a member's capped roles set their daily cap, the most generous wins."""
    caps = [role_caps[role] for role in roles if role in role_caps]
    user_daily = config.user_daily_credits if config.user_daily_credits is not None else defaults.user_daily
    if caps:
        user_daily = 0.0 if 0.0 in caps else max(caps)

    def pick(value: float | None, default: float) -> float:
        return value if value is not None else default

    return Limits(
        user_daily=user_daily,
        guild_daily=pick(config.guild_daily_credits, defaults.guild_daily),
        guild_monthly=pick(config.guild_monthly_credits, defaults.guild_monthly),
        max_jobs_user=int(pick(config.max_jobs_per_user, defaults.max_jobs_user)),
        max_jobs_guild=int(pick(config.max_jobs_per_guild, defaults.max_jobs_guild)),
        cooldown_seconds=pick(config.cooldown_seconds, defaults.cooldown_seconds),
        queue_max=int(pick(config.queue_max, defaults.queue_max)),
    )


def cooldown_until(usage: RawUsage, limits: Limits, strikes: StrikeRule) -> float | None:
    """When the member may submit again, if they must wait (cooldown between jobs, or strikes)."""
    waits = []
    if limits.cooldown_seconds > 0 and usage.last_submission_at is not None:
        waits.append(usage.last_submission_at + limits.cooldown_seconds)
    if strikes.limit > 0 and usage.recent_strikes >= strikes.limit and usage.last_strike_at is not None:
        waits.append(usage.last_strike_at + strikes.cooldown_seconds)
    return max(waits) if waits else None


def decide(usage: RawUsage, limits: Limits, strikes: StrikeRule, periods: Periods, cost: float, now: float) -> Charge:
    """The charge for a job of ``cost`` credits, or a QuotaRefusal saying which limit stands in the way.

    Over an in-progress limit the job waits (its credits held all the same) while the server's queue has room.
    """
    waits = _over_in_progress_limit(usage, limits)
    if strikes.limit > 0 and usage.recent_strikes >= strikes.limit and usage.last_strike_at is not None:
        until = usage.last_strike_at + strikes.cooldown_seconds
        if now < until:
            raise QuotaRefusal(
                _(
                    "Several of your recent requests were refused under the content policy, so you are paused until "
                    "{time} ({when}). Ask a moderator if this is a mistake.",
                    time=f"<t:{math.ceil(until)}:t>",
                    when=f"<t:{math.ceil(until)}:R>",
                ),
                "strike cooldown",
            )
    if limits.cooldown_seconds > 0 and usage.last_submission_at is not None:
        wait = usage.last_submission_at + limits.cooldown_seconds - now
        if wait > 0:
            raise QuotaRefusal(
                _n(
                    "Please wait {count} more second before starting another video.",
                    "Please wait {count} more seconds before starting another video.",
                    math.ceil(wait),
                ),
                "cooldown",
            )
    if limits.guild_monthly and usage.guild_month + cost > limits.guild_monthly + 1e-9:
        raise QuotaRefusal(
            _(
                "This server has used its video budget for this period ({used} of {cap} credits; this video costs "
                "{cost}). It resets {when}.",
                used=f"{usage.guild_month:g}",
                cap=f"{limits.guild_monthly:g}",
                cost=f"{cost:g}",
                when=f"<t:{math.ceil(periods.month_end)}:R>",
            ),
            "server monthly pool",
        )
    if limits.guild_daily and usage.guild_today + cost > limits.guild_daily + 1e-9:
        raise QuotaRefusal(
            _(
                "This server has used today's video budget ({used} of {cap} credits; this video costs {cost}). It "
                "resets {when}.",
                used=f"{usage.guild_today:g}",
                cap=f"{limits.guild_daily:g}",
                cost=f"{cost:g}",
                when=f"<t:{math.ceil(periods.day_end)}:R>",
            ),
            "server daily pool",
        )
    # Rounded: credits are decimal amounts, and float remainders such as 1.8e-15 must neither show nor be charged.
    allowance_left = math.inf if not limits.user_daily else max(0.0, round(limits.user_daily - usage.user_today, 6))
    from_allowance = min(cost, allowance_left)
    from_bonus = round(cost - from_allowance, 6)
    if from_bonus > usage.bonus_balance + 1e-9:
        fields = {
            "cost": f"{cost:g}",
            "left": f"{allowance_left:g}",
            "bonus": f"{usage.bonus_balance:g}",
            "when": f"<t:{math.ceil(periods.day_end)}:R>",
        }
        if usage.bonus_balance > 0:
            refusal = _(
                "This video costs {cost} credits; you have {left} left today and {bonus} bonus. Your allowance "
                "resets {when}. Try a shorter video or a cheaper model (/video models).",
                **fields,
            )
        else:
            refusal = _(
                "This video costs {cost} credits; you have {left} left today. Your allowance resets {when}. Try a "
                "shorter video or a cheaper model (/video models).",
                **fields,
            )
        raise QuotaRefusal(refusal, "daily allowance")
    return Charge(credits=cost, bonus=from_bonus, waits=waits)


def _over_in_progress_limit(usage: RawUsage, limits: Limits) -> bool:
    """Whether an in-progress limit is reached (the job must wait); a QuotaRefusal when the queue is full too."""
    user_full = bool(limits.max_jobs_user) and usage.user_in_flight >= limits.max_jobs_user
    guild_full = bool(limits.max_jobs_guild) and usage.guild_in_flight >= limits.max_jobs_guild
    if not (user_full or guild_full):
        return False
    if usage.guild_waiting < limits.queue_max and usage.user_waiting < QUEUE_MAX_PER_MEMBER:
        return True
    if not limits.queue_max:
        queue: Text | str = ""
    elif usage.guild_waiting < limits.queue_max:
        queue = _(", and you have {waiting} waiting, the most one member may", waiting=usage.user_waiting)
    else:
        queue = _(", and the server's wait queue is full ({waiting} waiting)", waiting=usage.guild_waiting)
    if user_full:
        raise QuotaRefusal(
            _n(
                "You already have {count} video in progress (the limit is {limit}){queue}. Wait for one to finish, "
                "then try again.",
                "You already have {count} videos in progress (the limit is {limit}){queue}. Wait for one to finish, "
                "then try again.",
                usage.user_in_flight,
                limit=limits.max_jobs_user,
                queue=queue,
            ),
            "user in-flight limit",
        )
    raise QuotaRefusal(
        _n(
            "This server already has {count} video in progress (the limit is {limit}){queue}. Try again in a few "
            "minutes.",
            "This server already has {count} videos in progress (the limit is {limit}){queue}. Try again in a few "
            "minutes.",
            usage.guild_in_flight,
            limit=limits.max_jobs_guild,
            queue=queue,
        ),
        "server in-flight limit",
    )


class QuotaService:
    """Limits from settings and the server's own configuration, applied with the store."""

    def __init__(self, store: GuildStore, settings: Settings, clock: Callable[[], float]) -> None:
        self.store = store
        self._clock = clock
        self._reset_hour = settings.quota_reset_hour_utc
        self._reset_day = settings.quota_reset_day
        self.defaults = Limits(
            user_daily=settings.quota_user_daily_credits,
            guild_daily=settings.quota_guild_daily_credits,
            guild_monthly=settings.quota_guild_monthly_credits,
            max_jobs_user=settings.max_jobs_per_user,
            max_jobs_guild=settings.max_jobs_per_guild,
            cooldown_seconds=settings.cooldown_seconds,
            queue_max=settings.queue_max_per_guild,
        )
        self.strikes = StrikeRule(
            limit=settings.strike_limit,
            window_seconds=settings.strike_window_hours * 3600,
            cooldown_seconds=settings.strike_cooldown_minutes * 60,
        )

    def periods(self) -> Periods:
        """The current day and month."""
        return current_periods(self._clock(), self._reset_hour, self._reset_day)

    async def limits(self, guild_id: int, roles: Iterable[int]) -> Limits:
        """The limits for a member with these roles."""
        config = await self.store.config(guild_id)
        return resolve_limits(self.defaults, config, await self.store.role_caps(guild_id), roles)

    async def holder(
        self, guild_id: int, user_id: int, roles: Iterable[int], cost: float
    ) -> Callable[[Session, str], Awaitable[bool]]:
        """What JobStore.add runs inside its transaction: check every limit, then hold the credits; True when the
        job must wait for a slot."""
        limits = await self.limits(guild_id, roles)

        async def hold(session: Session, job_id: str) -> bool:
            await self.store.lock_balances(session, guild_id)
            periods = self.periods()
            usage = await self.store.usage(
                session,
                guild_id,
                user_id,
                day_start=periods.day_start,
                month_start=periods.month_start,
                strike_since=self._clock() - self.strikes.window_seconds,
            )
            charge = decide(usage, limits, self.strikes, periods, cost, self._clock())
            await self.store.hold(session, job_id, guild_id, user_id, charge.credits, charge.bonus)
            return charge.waits

        return hold

    async def status(self, guild_id: int, user_id: int, roles: Iterable[int]) -> QuotaStatus:
        """A member's allowance, the server's pools, their cooldown and jobs in flight."""
        limits = await self.limits(guild_id, roles)
        periods = self.periods()
        usage = await self.store.current_usage(
            guild_id,
            user_id,
            day_start=periods.day_start,
            month_start=periods.month_start,
            strike_since=self._clock() - self.strikes.window_seconds,
        )
        until = cooldown_until(usage, limits, self.strikes)
        return QuotaStatus(limits, usage, periods, until if until is not None and until > self._clock() else None)
