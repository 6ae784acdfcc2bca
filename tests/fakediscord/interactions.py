"""Interaction records: the payload sent, and every callback/webhook call made for it, with timings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .util import Notifier

APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT, MODAL = 8, 9
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
}


@dataclass
class InteractionCall:
    """One request the bot made with an interaction's id/token (callback or webhook), as answered.

    ``kind`` is one of ``callback``, ``get_original``, ``edit_original``, ``delete_original``,
    ``followup``, ``get_followup``, ``edit_followup``, ``delete_followup``.
    ``type`` is the callback type for ``callback`` calls. ``latency`` is seconds since INTERACTION_CREATE
    was written to the websocket. ``code`` is the Discord error code when ``status`` >= 400.
    """

    kind: str
    method: str
    path: str
    at: float
    latency: float | None
    data: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)
    type: int | None = None
    status: int = 0
    code: int | None = None
    message_id: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (2xx)."""
        return 200 <= self.status < 300

    @property
    def flags(self) -> int:
        """The ``flags`` of the call's data, 0 if absent."""
        return int((self.data or {}).get("flags") or 0) if isinstance(self.data, dict) else 0


@dataclass
class InteractionRecord:
    """An interaction the fake sent to the bot, and what the bot did with it."""

    id: int
    token: str = field(repr=False)
    type: int
    payload: dict[str, Any] = field(repr=False)
    guild_id: int | None
    channel_id: int
    user_id: int
    created_at: float = field(default_factory=time.monotonic)
    expires_at: float = 0.0
    sent_at: float | None = None
    shard: tuple[int, int] | None = None  # (shard id, count) of the gateway session it was sent to
    acknowledged: bool = False
    response_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    calls: list[InteractionCall] = field(default_factory=list)
    changed: Notifier = field(default_factory=Notifier, repr=False)

    @property
    def responses(self) -> list[InteractionCall]:
        """All callback and webhook calls, in arrival order."""
        return self.calls

    @property
    def callbacks(self) -> list[InteractionCall]:
        """Only the ``/callback`` calls."""
        return [c for c in self.calls if c.kind == "callback"]

    def mark_sent(self, at: float) -> None:
        """Called when INTERACTION_CREATE has been written to the websocket."""
        self.sent_at = at
        self.changed.notify()

    def add_call(self, call: InteractionCall) -> None:
        """Append a call and wake waiters."""
        self.calls.append(call)
        self.changed.notify()

    async def wait_sent(self, timeout: float = 5.0) -> float:  # noqa: ASYNC109
        """Wait until the interaction was written to the gateway; returns the monotonic send time."""
        return await self.changed.wait_for(lambda: self.sent_at, timeout, f"interaction {self.id} to be sent")

    async def wait_response(self, timeout: float = 5.0) -> InteractionCall:  # noqa: ASYNC109
        """Wait for the first callback call (accepted or rejected) and return it."""
        return await self.wait_for(lambda c: c.kind == "callback", timeout)

    async def wait_for(self, predicate: Callable[[InteractionCall], bool], timeout: float = 5.0) -> InteractionCall:  # noqa: ASYNC109
        """Wait for the first call (past or future) that satisfies ``predicate``."""

        def probe() -> InteractionCall | None:
            return next((c for c in self.calls if predicate(c)), None)

        return await self.changed.wait_for(probe, timeout, f"a matching call for interaction {self.id}")
