"""The model catalog: which models exist, how each travels over the wire, and what it costs."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from bot.domain import ImageTransport, Orientation, WireFormat
from bot.errors import ConfigError

_E = TypeVar("_E", WireFormat, ImageTransport)
_SIZE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
_KNOWN_FIELDS = frozenset(
    {
        "name",
        "label",
        "format",
        "sizes",
        "durations",
        "default_duration",
        "max_images",
        "image_transport",
        "hd_orientations",
        "credits_per_second",
    }
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Everything the bot knows about one model."""

    name: str
    label: str
    wire_format: WireFormat
    sizes: Mapping[Orientation, str]
    durations: tuple[int, ...]
    default_duration: int
    max_images: int
    image_transport: ImageTransport
    hd_orientations: frozenset[Orientation]
    credits_per_second: float

    @property
    def orientations(self) -> tuple[Orientation, ...]:
        """The orientations this model can produce, landscape first."""
        return tuple(o for o in Orientation if o in self.sizes)

    def size_for(self, orientation: Orientation) -> str:
        """The output size for an orientation; the caller has checked the model offers it."""
        return self.sizes[orientation]

    def cost(self, duration: int) -> float:
        """Credits a video of this many seconds costs."""
        return duration * self.credits_per_second


class Catalog:
    """An ordered, read-only set of models; the first is the default."""

    def __init__(self, models: tuple[ModelSpec, ...], source: str) -> None:
        if not models:
            raise ConfigError(f"{source}: the catalog lists no models")
        self._models = {m.name: m for m in models}
        self.source = source

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    @property
    def default(self) -> ModelSpec:
        """The model used when none is named."""
        return next(iter(self._models.values()))

    def get(self, name: str) -> ModelSpec | None:
        """The model called ``name``, or None."""
        return self._models.get(name)

    @classmethod
    def load(cls, path: Path | None = None) -> Catalog:
        """Read a catalog file, or the one shipped in the package when ``path`` is None."""
        if path is None:
            source = "the built-in catalog (bot/models.toml)"
            text = resources.files("bot").joinpath("models.toml").read_text(encoding="utf-8")
        else:
            source = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"MODELS_FILE {path}: cannot be read ({exc.strerror})") from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"MODELS_FILE {path}: is not UTF-8 text (save it as UTF-8)") from exc
        return cls.parse(text, source)

    @classmethod
    def parse(cls, text: str, source: str) -> Catalog:
        """Parse catalog TOML; every problem names the file, the model and the field."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
        entries = data.get("models")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{source}: expected one or more [[models]] tables")
        problems: list[str] = []
        models: list[ModelSpec] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries, start=1):
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"{source}: model {name!r}" if isinstance(name, str) and name else f"{source}: model #{index}"
            errors: list[str] = []
            spec = _parse_model(entry, errors) if isinstance(entry, dict) else None
            if not isinstance(entry, dict):
                errors.append("must be a table")
            if spec is not None and spec.name in seen:
                errors.append("field 'name': listed twice")
            problems.extend(f"{where}: {e}" for e in errors)
            if spec is not None and not errors:
                seen.add(spec.name)
                models.append(spec)
        if problems:
            raise ConfigError("The model catalog is invalid:\n  " + "\n  ".join(problems))
        return cls(tuple(models), source)


def _parse_model(entry: dict[str, Any], errors: list[str]) -> ModelSpec | None:
    def need(key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = entry.get(key)
        if value is None:
            errors.append(f"field {key!r}: missing ({what})")
        elif not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            errors.append(f"field {key!r}: expected {what}, got {value!r}")
            return None
        return value

    for key in sorted(set(entry) - _KNOWN_FIELDS):
        errors.append(f"field {key!r}: unknown field")
    name = need("name", str, "a model name")
    label = entry.get("label", name)
    wire = _enum(entry, "format", WireFormat, errors)
    transport = _enum(entry, "image_transport", ImageTransport, errors)
    sizes_raw = need("sizes", dict, "a table of orientation = 'WxH'")
    sizes: dict[Orientation, str] = {}
    for key, value in (sizes_raw or {}).items():
        if key not in Orientation.__members__.values():
            errors.append(f"field 'sizes': unknown orientation {key!r} (use landscape or portrait)")
        elif not isinstance(value, str) or not _SIZE.match(value):
            errors.append(f"field 'sizes.{key}': expected 'WIDTHxHEIGHT', got {value!r}")
        else:
            sizes[Orientation(key)] = value
    if sizes_raw is not None and not sizes_raw:
        errors.append("field 'sizes': names no orientation")
    durations_raw = need("durations", list, "a list of whole seconds")
    durations = tuple(durations_raw or ())
    if durations_raw is not None and (
        not durations or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in durations)
    ):
        errors.append(f"field 'durations': expected a non-empty list of positive whole seconds, got {durations_raw!r}")
    default_duration = need("default_duration", int, "one of the durations")
    if isinstance(default_duration, int) and durations and default_duration not in durations:
        errors.append(f"field 'default_duration': {default_duration} is not one of the durations {list(durations)}")
    max_images = need("max_images", int, "a whole number of reference images")
    if isinstance(max_images, int) and not 0 <= max_images <= 3:
        errors.append(f"field 'max_images': expected 0 to 3, got {max_images}")
    hd_raw = entry.get("hd_orientations", [])
    hd: set[Orientation] = set()
    if not isinstance(hd_raw, list):
        errors.append(f"field 'hd_orientations': expected a list of orientations, got {hd_raw!r}")
    else:
        for value in hd_raw:
            if value not in sizes:
                errors.append(f"field 'hd_orientations': {value!r} is not one of the model's orientations")
            else:
                hd.add(Orientation(value))
    rate = need("credits_per_second", (int, float), "a number of credits")
    if isinstance(rate, int | float) and rate < 0:
        errors.append(f"field 'credits_per_second': must not be negative, got {rate}")
    if not isinstance(label, str) or not label:
        errors.append(f"field 'label': expected text, got {label!r}")
    if errors or wire is None or transport is None:
        return None
    return ModelSpec(
        name=name,
        label=label,
        wire_format=wire,
        sizes=sizes,
        durations=durations,
        default_duration=default_duration,
        max_images=max_images,
        image_transport=transport,
        hd_orientations=frozenset(hd),
        credits_per_second=float(rate),
    )


def _enum(entry: dict[str, Any], key: str, kind: type[_E], errors: list[str]) -> _E | None:
    value = entry.get(key)
    allowed = ", ".join(repr(m.value) for m in kind)
    if value is None:
        errors.append(f"field {key!r}: missing (one of {allowed})")
        return None
    try:
        return kind(value)
    except ValueError:
        errors.append(f"field {key!r}: {value!r} is not one of {allowed}")
        return None
