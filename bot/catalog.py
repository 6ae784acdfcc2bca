"""The model catalog: which models exist, how each travels over the wire, and what it costs."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final, TypeVar

from bot.domain import ImageTransport, Orientation, WireFormat
from bot.errors import ConfigError

_E = TypeVar("_E", WireFormat, ImageTransport)
_SIZE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
# When a catalog entry does not say how long its jobs usually take.
DEFAULT_USUAL_MINUTES: Final = 5.0
_KNOWN_FIELDS = frozenset(
    {
        "name",
        "label",
        "format",
        "sizes",
        "durations",
        "default_duration",
        "usual_minutes",
        "max_images",
        "image_transport",
        "hd_orientations",
        "credits_per_second",
        "retired",
        "use_instead",
        "resolution",
        "hd_resolution",
        "request",
        "fixed",
        "min_images",
    }
)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_RESOLUTION = re.compile(r"^[0-9]{3,4}[pP]$")
# Where a request option may travel: the fields of new-api's TaskSubmitReq (relay/common/relay_info.go) with the
# JSON type its decoder insists on, or any key under `metadata`, which each adaptor merges into its own request.
_TOP_LEVEL_FIELDS: dict[str, type] = {
    "size": str,
    "seconds": str,
    "duration": int,
    "input_reference": str,
    "image": str,
    "image_url": str,
    "images": list,
}
_METADATA = "metadata"
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True, slots=True)
class FieldPath:
    """Where one option travels in a `POST /v1/videos` body, and the JSON type it travels as."""

    path: tuple[str, ...]
    kind: type  # str, int or list

    def put(self, body: dict[str, Any], value: object) -> None:
        """Set the option in ``body`` (creating `metadata` and nested tables on the way), converted to its type."""
        target = body
        for part in self.path[:-1]:
            target = target.setdefault(part, {})
        if self.kind is list:
            converted: object = list(value) if isinstance(value, list | tuple) else [value]
        elif isinstance(value, list | tuple):
            converted = self.kind(value[0])
        else:
            converted = self.kind(value)
        target[self.path[-1]] = converted

    def __str__(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class RequestMap:
    """Which body fields one model reads, as the gateway's adaptor for its provider reads them."""

    duration: FieldPath
    size: FieldPath | None = None
    aspect_ratio: FieldPath | None = None
    resolution: FieldPath | None = None
    images: FieldPath | None = None
    last_frame: FieldPath | None = None
    fixed: tuple[tuple[FieldPath, str | int | bool], ...] = ()  # sent as they are, such as a provider's mode


# Sora's mapping, and what a catalog without `request` tables means: the gateway's own reading of /v1/videos.
DEFAULT_REQUEST = RequestMap(
    duration=FieldPath(("seconds",), str),
    size=FieldPath(("size",), str),
    images=FieldPath(("input_reference",), str),
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
    request: RequestMap = DEFAULT_REQUEST
    resolution: str | None = None
    hd_resolution: str | None = None
    min_images: int = 0  # image-to-video models need a picture to start from
    retired: str | None = None  # the date the provider retired the model; such a model is never offered
    use_instead: str | None = None  # the model to suggest in its place
    usual_minutes: float = DEFAULT_USUAL_MINUTES  # how long a job of this model usually takes on the gateway

    @property
    def takes_last_frame(self) -> bool:
        """Whether the model takes a last frame besides its reference images."""
        return self.request.last_frame is not None

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
    """An ordered, read-only set of models; the first one in service is the default."""

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
        """The first model still in service (which of them the gateway serves is `ServedModels`' concern)."""
        return next(m for m in self._models.values() if m.retired is None)

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
        by_name = {m.name: m for m in models}
        for spec in models:
            instead = by_name.get(spec.use_instead) if spec.use_instead else None
            if spec.use_instead and (instead is None or instead.retired):
                problems.append(
                    f"{source}: model {spec.name!r}: field 'use_instead': {spec.use_instead!r} is not a model of "
                    "this catalog that is still in service"
                )
        if models and all(m.retired for m in models) and not problems:
            problems.append(f"{source}: every model is retired; list at least one that is in service")
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
    min_images = entry.get("min_images", 0)
    if not isinstance(min_images, int) or isinstance(min_images, bool) or min_images < 0:
        errors.append(f"field 'min_images': expected a whole number, got {min_images!r}")
    elif isinstance(max_images, int) and min_images > max_images:
        errors.append(f"field 'min_images': {min_images} is more than max_images ({max_images})")
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
    usual = entry.get("usual_minutes", DEFAULT_USUAL_MINUTES)
    if isinstance(usual, bool) or not isinstance(usual, int | float) or usual <= 0:
        errors.append(f"field 'usual_minutes': expected a positive number of minutes, got {usual!r}")
    rate = need("credits_per_second", (int, float), "a number of credits")
    if isinstance(rate, int | float) and rate < 0:
        errors.append(f"field 'credits_per_second': must not be negative, got {rate}")
    if not isinstance(label, str) or not label:
        errors.append(f"field 'label': expected text, got {label!r}")
    retired = _optional_text(entry, "retired", _DATE, "a date such as 2026-09-24", errors)
    use_instead = _optional_text(entry, "use_instead", None, "a model name", errors)
    resolution = _optional_text(entry, "resolution", _RESOLUTION, "a resolution such as 720p", errors)
    hd_resolution = _optional_text(entry, "hd_resolution", _RESOLUTION, "a resolution such as 1080p", errors)
    request = _parse_request(entry, wire, errors)
    if request is not None and wire is WireFormat.OPENAI:
        if request.resolution is not None and resolution is None:
            errors.append(f"field 'resolution': missing (request.resolution sends it as {request.resolution})")
        if request.resolution is None and (resolution or hd_resolution):
            errors.append("field 'resolution': the model's request has no 'resolution' field to send it in")
        if hd and request.resolution is not None and hd_resolution is None:
            errors.append("field 'hd_resolution': missing (HD is offered and is sent as a resolution)")
        if isinstance(max_images, int) and max_images > 0 and request.images is None:
            errors.append("field 'request.images': missing (the model takes reference images)")
        if isinstance(max_images, int) and max_images > 1 and request.images and request.images.kind is not list:
            errors.append(f"field 'max_images': {request.images} carries one image, so at most 1, got {max_images}")
    if errors or wire is None or transport is None or request is None:
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
        request=request,
        min_images=min_images,
        resolution=resolution,
        hd_resolution=hd_resolution,
        retired=retired,
        use_instead=use_instead,
        usual_minutes=float(usual),
    )


def _optional_text(
    entry: dict[str, Any], key: str, shape: re.Pattern[str] | None, what: str, errors: list[str]
) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or (shape is not None and not shape.match(value)):
        errors.append(f"field {key!r}: expected {what}, got {value!r}")
        return None
    return value


_OPTIONS = ("duration", "size", "aspect_ratio", "resolution", "images", "last_frame")
_KINDS = {"string": str, "int": int, "list": list}


def _parse_request(entry: dict[str, Any], wire: WireFormat | None, errors: list[str]) -> RequestMap | None:
    raw = entry.get("request")
    if raw is None:
        if "fixed" in entry:
            errors.append("field 'fixed': needs a 'request' table (it adds to the model's own request fields)")
        return DEFAULT_REQUEST
    if wire is WireFormat.UNIFIED:
        errors.append("field 'request': the unified format's request is fixed; remove this table")
        return None
    if not isinstance(raw, dict):
        errors.append(f"field 'request': expected a table of option = 'field', got {raw!r}")
        return None
    fields: dict[str, FieldPath] = {}
    for option, spelled in raw.items():
        if option not in _OPTIONS:
            errors.append(f"field 'request.{option}': unknown option (use {', '.join(_OPTIONS)})")
            continue
        path = _parse_path(option, spelled, errors)
        if path is not None:
            fields[option] = path
    if "duration" not in raw:
        errors.append("field 'request.duration': missing (where the duration goes, such as 'seconds')")
    fixed = _parse_fixed(entry.get("fixed", {}), errors)
    if len(fields) != len(raw) or "duration" not in fields or fixed is None:
        return None
    return RequestMap(**fields, fixed=fixed)


def _parse_fixed(raw: object, errors: list[str]) -> tuple[tuple[FieldPath, str | int | bool], ...] | None:
    if not isinstance(raw, dict):
        errors.append(f"field 'fixed': expected a table of 'field' = value, got {raw!r}")
        return None
    fixed = []
    for spelled, value in raw.items():
        path = _parse_path("fixed", spelled, errors, where=f"field 'fixed.{spelled}'")
        if path is not None and not isinstance(value, str | int | bool):
            errors.append(f"field 'fixed.{spelled}': expected text, a number or true/false, got {value!r}")
        elif path is not None:
            fixed.append((FieldPath(path.path, type(value)), value))
    return tuple(fixed) if len(fixed) == len(raw) else None


def _parse_path(option: str, spelled: object, errors: list[str], *, where: str = "") -> FieldPath | None:
    where = where or f"field 'request.{option}'"
    if not isinstance(spelled, str):
        errors.append(f"{where}: expected a body field such as 'metadata.duration', got {spelled!r}")
        return None
    name, _, kind_name = spelled.partition(":")
    if not _PATH.match(name) or (kind_name and kind_name not in _KINDS):
        errors.append(f"{where}: {spelled!r} is not a field path with an optional :string, :int or :list")
        return None
    path = tuple(name.split("."))
    fixed = _TOP_LEVEL_FIELDS.get(path[0]) if len(path) == 1 else None
    if path[0] != _METADATA and fixed is None:
        allowed = ", ".join([*_TOP_LEVEL_FIELDS, "metadata.<key>"])
        errors.append(f"{where}: the gateway drops {name!r}; it reads {allowed}")
        return None
    if path == (_METADATA,):
        errors.append(f"{where}: name a key inside metadata, such as 'metadata.{option}'")
        return None
    wanted = _KINDS[kind_name] if kind_name else None
    if fixed is not None and wanted is not None and wanted is not fixed:
        errors.append(f"{where}: the gateway decodes {name!r} as {_kind_name(fixed)}, not {kind_name}")
        return None
    kind = fixed or wanted or (int if option == "duration" else str)
    if (option == "images" and kind not in (str, list)) or (
        option not in ("images", "duration", "fixed") and kind is not str
    ):
        errors.append(f"{where}: {_kind_name(kind)} cannot carry this option")
        return None
    return FieldPath(path, kind)


def _kind_name(kind: type) -> str:
    return next(name for name, value in _KINDS.items() if value is kind)


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
