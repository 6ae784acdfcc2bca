"""Fault injection: what can go wrong, how it is described, and the runtime switchboard.

A fault is a `FaultSpec`; `count` is how many times it fires (`None` = until cleared). Route faults
(`rate_limit`, `server_error`, `html_page`, `delay`, `raw_body`) hit the next requests of a route class. Task faults
(`fail_task`, `policy_refusal`, `balance_exhausted`, `lose_task`, `no_video`) act when a task is created, and download
faults (`expired_link`, `json_url`, `oversize`, `cut_download`) when a finished video is fetched; both can
be narrowed to a model or a prompt substring. The same JSON object goes to `POST /_sim/faults`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)

DEFAULT_OVERSIZE_BYTES = 30 * 1024 * 1024  # what an `oversize` fault pads a video to when no size is given
# What the upstream says when it moderates a prompt: a refused create, or a task that fails at once.
MODERATION_MESSAGE = "Your request was blocked by our moderation system."


class RouteClass(StrEnum):
    """Groups of gateway routes that route faults can target."""

    CREATE = "create"
    POLL = "poll"
    CONTENT = "content"
    MODELS = "models"


class FaultKind(StrEnum):
    """Every fault the simulator can inject."""

    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    HTML_PAGE = "html_page"
    DELAY = "delay"
    FAIL_TASK = "fail_task"
    POLICY_REFUSAL = "policy_refusal"
    BALANCE_EXHAUSTED = "balance_exhausted"
    LOSE_TASK = "lose_task"
    NO_VIDEO = "no_video"
    EXPIRED_LINK = "expired_link"
    JSON_URL = "json_url"
    OVERSIZE = "oversize"
    CUT_DOWNLOAD = "cut_download"
    RAW_BODY = "raw_body"


ROUTE_FAULTS = frozenset(
    {FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.HTML_PAGE, FaultKind.DELAY, FaultKind.RAW_BODY}
)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One injected fault; fields a kind does not use are ignored."""

    kind: FaultKind
    count: int | None = 1
    route: RouteClass | None = None
    model: str | None = None
    prompt_contains: str | None = None
    status: int = 502
    retry_after: int | None = None
    seconds: float = 0.0
    message: str = ""
    code: str = ""
    size_bytes: int = DEFAULT_OVERSIZE_BYTES
    after_bytes: int = 1024
    after_polls: int = 1
    at_fraction: float = 1.0
    body: str = ""
    content_type: str = "application/json"
    chunk_bytes: int = 0

    def __post_init__(self) -> None:
        """Reject values that cannot be served."""
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 or null")
        if self.kind is FaultKind.SERVER_ERROR and not 500 <= self.status <= 599:
            raise ValueError("server_error status must be 5xx")
        if min(self.seconds, self.after_bytes, self.size_bytes, self.after_polls, self.chunk_bytes) < 0:
            raise ValueError("seconds, size_bytes, after_bytes, after_polls and chunk_bytes must be >= 0")

    def matches(self, route: RouteClass | None, model: str | None, prompt: str | None) -> bool:
        """Tell whether this fault applies to a request of `route` about `model` / `prompt`."""
        if self.kind in ROUTE_FAULTS:
            return self.route is None or self.route is route
        if self.model is not None and self.model != model:
            return False
        return self.prompt_contains is None or (prompt is not None and self.prompt_contains in prompt)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> FaultSpec:
        """Build a spec from the JSON accepted by `POST /_sim/faults`; raise ValueError when malformed."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        values: dict[str, object] = {}
        for name, value in data.items():
            values[name] = _coerce(name, value)
        return cls(**values)  # type: ignore[arg-type]  # each value was checked by _coerce

    def to_json(self) -> dict[str, object]:
        """Return the spec as JSON-ready data."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


_INT_FIELDS = frozenset({"count", "status", "retry_after", "size_bytes", "after_bytes", "after_polls", "chunk_bytes"})
_FLOAT_FIELDS = frozenset({"seconds", "at_fraction"})
_NULLABLE = frozenset({"count", "route", "model", "prompt_contains", "retry_after"})


def _coerce(name: str, value: object) -> object:
    if value is None:
        if name not in _NULLABLE:
            raise ValueError(f"{name} cannot be null")
        return None
    if name == "kind":
        return FaultKind(str(value))
    if name == "route":
        return RouteClass(str(value))
    if name in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer")
        return value
    if name in _FLOAT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


@dataclass(slots=True)
class _Armed:
    spec: FaultSpec
    remaining: int | None


class Faults:
    """The live set of armed faults; every method is also reachable over HTTP under /_sim/faults."""

    def __init__(self, specs: Iterable[FaultSpec] = ()) -> None:
        """Arm the construction-time faults."""
        self._armed: list[_Armed] = []
        for spec in specs:
            self.add(spec)

    def add(self, spec: FaultSpec) -> FaultSpec:
        """Arm a fault and return it."""
        self._armed.append(_Armed(spec, spec.count))
        log.info("armed fault %s", spec)
        return spec

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()
        log.info("cleared all faults")

    def armed(self) -> list[dict[str, object]]:
        """Describe the armed faults and how many uses each has left."""
        return [{**armed.spec.to_json(), "remaining": armed.remaining} for armed in self._armed]

    def take(
        self,
        kind: FaultKind,
        *,
        route: RouteClass | None = None,
        model: str | None = None,
        prompt: str | None = None,
    ) -> FaultSpec | None:
        """Consume one use of the first armed fault of `kind` matching the request, if any."""
        for armed in self._armed:
            if armed.spec.kind is kind and armed.spec.matches(route, model, prompt):
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._armed.remove(armed)
                log.info("fault %s fires (route=%s model=%s)", kind, route, model)
                return armed.spec
        return None

    def rate_limit(
        self, route: RouteClass | str | None, count: int | None = 1, retry_after: int | None = None
    ) -> FaultSpec:
        """Answer 429 with an empty body (plus Retry-After when given) to the next requests of `route`."""
        return self.add(FaultSpec(FaultKind.RATE_LIMIT, count, _route(route), retry_after=retry_after))

    def server_error(
        self, route: RouteClass | str | None, count: int | None = 1, status: int = 502, message: str = ""
    ) -> FaultSpec:
        """Answer a 5xx to the next requests of `route` (HTML proxy page for 502/503, JSON for others)."""
        return self.add(FaultSpec(FaultKind.SERVER_ERROR, count, _route(route), status=status, message=message))

    def html_page(self, route: RouteClass | str | None, count: int | None = 1) -> FaultSpec:
        """Answer the 200 HTML dashboard to the next requests of `route`."""
        return self.add(FaultSpec(FaultKind.HTML_PAGE, count, _route(route)))

    def raw_body(
        self,
        route: RouteClass | str | None,
        body: str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        chunk_bytes: int = 0,
        pause_seconds: float = 0.0,
        count: int | None = 1,
    ) -> FaultSpec:
        """Answer the next requests of `route` with `body` as given, as a broken proxy or a hostile gateway would.

        With `chunk_bytes` the body goes out chunked, in pieces of that size, `pause_seconds` apart.
        """
        spec = FaultSpec(
            FaultKind.RAW_BODY,
            count,
            _route(route),
            status=status,
            body=body,
            content_type=content_type,
            chunk_bytes=chunk_bytes,
            seconds=pause_seconds,
        )
        return self.add(spec)

    def delay(self, seconds: float, route: RouteClass | str | None = None, count: int | None = 1) -> FaultSpec:
        """Hold the next requests of `route` for `seconds` before answering."""
        return self.add(FaultSpec(FaultKind.DELAY, count, _route(route), seconds=seconds))

    def fail_tasks(
        self,
        reason: str = "upstream error",
        code: str = "upstream_error",
        *,
        count: int | None = 1,
        model: str | None = None,
        prompt_contains: str | None = None,
        at_fraction: float = 1.0,
    ) -> FaultSpec:
        """Make the next created tasks end as failed with `reason` after `at_fraction` of their run time."""
        spec = FaultSpec(
            FaultKind.FAIL_TASK,
            count,
            model=model,
            prompt_contains=prompt_contains,
            message=reason,
            code=code,
            at_fraction=at_fraction,
        )
        return self.add(spec)

    def moderate_tasks(
        self, *, count: int | None = 1, model: str | None = None, prompt_contains: str | None = None
    ) -> FaultSpec:
        """Make the next created tasks fail at their first refresh with the moderation text."""
        return self.fail_tasks(
            MODERATION_MESSAGE,
            "moderation_blocked",
            count=count,
            model=model,
            prompt_contains=prompt_contains,
            at_fraction=0.0,
        )

    def refuse_policy(
        self, *, count: int | None = 1, model: str | None = None, prompt_contains: str | None = None
    ) -> FaultSpec:
        """Refuse the next creates with a 400 `fail_to_fetch_task` carrying an upstream moderation error."""
        return self.add(FaultSpec(FaultKind.POLICY_REFUSAL, count, model=model, prompt_contains=prompt_contains))

    def exhaust_balance(self, *, count: int | None = 1, model: str | None = None) -> FaultSpec:
        """Refuse the next creates with 403 `insufficient_user_quota`."""
        return self.add(FaultSpec(FaultKind.BALANCE_EXHAUSTED, count, model=model))

    def lose_tasks(
        self,
        *,
        after_polls: int = 1,
        count: int | None = 1,
        model: str | None = None,
        prompt_contains: str | None = None,
    ) -> FaultSpec:
        """Make the next created tasks answer `task_not_exist` once they have been polled `after_polls` times."""
        spec = FaultSpec(
            FaultKind.LOSE_TASK, count, model=model, prompt_contains=prompt_contains, after_polls=after_polls
        )
        return self.add(spec)

    def withhold_videos(
        self, *, count: int | None = 1, model: str | None = None, prompt_contains: str | None = None
    ) -> FaultSpec:
        """Make the next created tasks finish "completed" with no video, as a provider's filtered result does."""
        return self.add(FaultSpec(FaultKind.NO_VIDEO, count, model=model, prompt_contains=prompt_contains))

    def expire_links(
        self, *, count: int | None = 1, model: str | None = None, prompt_contains: str | None = None
    ) -> FaultSpec:
        """Make the next downloads fail as if the signed upstream link had expired."""
        return self.add(FaultSpec(FaultKind.EXPIRED_LINK, count, model=model, prompt_contains=prompt_contains))

    def content_as_json_url(
        self, *, count: int | None = 1, model: str | None = None, prompt_contains: str | None = None
    ) -> FaultSpec:
        """Answer the next content requests with JSON `{"url": ...}` instead of the bytes."""
        return self.add(FaultSpec(FaultKind.JSON_URL, count, model=model, prompt_contains=prompt_contains))

    def oversize(
        self,
        size_bytes: int = DEFAULT_OVERSIZE_BYTES,
        *,
        count: int | None = 1,
        model: str | None = None,
        prompt_contains: str | None = None,
    ) -> FaultSpec:
        """Pad the next downloaded videos to `size_bytes` while keeping them valid MP4s."""
        spec = FaultSpec(FaultKind.OVERSIZE, count, model=model, prompt_contains=prompt_contains, size_bytes=size_bytes)
        return self.add(spec)

    def cut_downloads(
        self,
        after_bytes: int = 1024,
        *,
        count: int | None = 1,
        model: str | None = None,
        prompt_contains: str | None = None,
    ) -> FaultSpec:
        """Announce the full Content-Length but close the connection after `after_bytes` on the next downloads."""
        spec = FaultSpec(
            FaultKind.CUT_DOWNLOAD, count, model=model, prompt_contains=prompt_contains, after_bytes=after_bytes
        )
        return self.add(spec)


def _route(route: RouteClass | str | None) -> RouteClass | None:
    return None if route is None else RouteClass(route)
