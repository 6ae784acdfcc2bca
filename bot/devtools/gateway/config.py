"""Construction-time settings of the gateway simulator."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.devtools.gateway.injection import DEFAULT_OVERSIZE_BYTES, FaultSpec

log = logging.getLogger(__name__)

# What a gateway serves today: the live models of the bot's catalog (Sora 2 was shut down on 2026-09-24).
DEFAULT_MODELS: tuple[str, ...] = (
    "veo-3.1-fast-generate-preview",
    "veo-3.1-generate-preview",
    "veo3.1-fast",
    "veo3.1-fast-components",
    "kling-v2-1",
    "doubao-seedance-1-0-pro-250528",
    "wan2.5-i2v-preview",
)
DEFAULT_KEY = "sk-sim"


class ProgressStyle(StrEnum):
    """How the unified query renders `progress`."""

    INT = "int"
    STRING = "string"
    ALTERNATE = "alternate"


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything the simulator needs to know before it starts; runtime faults live in `Faults`."""

    host: str = "127.0.0.1"
    port: int = 0
    key: str = field(default=DEFAULT_KEY, repr=False)
    extra_keys: tuple[str, ...] = field(default=(), repr=False)
    models: tuple[str, ...] = DEFAULT_MODELS
    tick_seconds: float = 15.0
    tick_spacing_seconds: float = 1.0
    task_seconds: float = 20.0
    model_task_seconds: Mapping[str, float] = field(default_factory=dict)
    unified_progress: ProgressStyle = ProgressStyle.ALTERNATE
    unknown_before_first_refresh: bool = True
    unified_max_duration: int = 60
    fail_prompt_marker: str | None = "FAIL"
    fail_reason: str = "upstream error"
    moderation_prompt_marker: str | None = "MODERATE"
    policy_prompt_marker: str | None = "POLICY"
    oversize_bytes: int = DEFAULT_OVERSIZE_BYTES
    media_dir: str | None = None
    result_video: str | None = None  # an MP4 served as every result instead of the generated sample
    faults: tuple[FaultSpec, ...] = ()

    def __post_init__(self) -> None:
        """Reject settings that would make the refresh arithmetic meaningless."""
        if self.tick_seconds < 0 or self.tick_spacing_seconds < 0 or self.task_seconds < 0:
            raise ValueError("tick_seconds, tick_spacing_seconds and task_seconds must be >= 0")
        if not self.models:
            raise ValueError("at least one model must be served")
        if any(seconds < 0 for seconds in self.model_task_seconds.values()):
            raise ValueError("model_task_seconds values must be >= 0")

    def task_seconds_for(self, model: str) -> float:
        """Return how long a task of `model` runs before it is done."""
        return self.model_task_seconds.get(model, self.task_seconds)

    def accepts_key(self, presented: str) -> bool:
        """Tell whether a bearer key is one of the configured keys, ignoring an `sk-` prefix on either side."""
        wanted = {normalize_key(key) for key in (self.key, *self.extra_keys)}
        return bool(presented) and normalize_key(presented) in wanted


def normalize_key(key: str) -> str:
    """Strip whitespace and the optional `sk-` prefix the gateway tolerates."""
    key = key.strip()
    return key.removeprefix("sk-")


def is_sora(model: str) -> bool:
    """Tell whether the gateway's sora rules (sizes, seconds) apply to `model`."""
    return model.startswith("sora-2")


def sora_sizes(model: str) -> tuple[str, ...]:
    """Return the sizes the gateway accepts for a sora model."""
    if model.startswith("sora-2-pro"):
        return ("720x1280", "1280x720", "1792x1024", "1024x1792")
    return ("720x1280", "1280x720")
