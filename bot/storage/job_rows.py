"""How a Job is stored: its columns and the row mapping, both read off the Job dataclass itself.

A column is named as its field and holds the field's value; enums are stored by value, flags as 0/1 and a message
to translate (a failure reason) as its JSON.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Final

from bot.domain import Job
from bot.locales import Text
from bot.storage.database import Row

COLUMNS: Final = tuple(field.name for field in dataclasses.fields(Job))


def _decoder(hint: Any) -> Callable[[Any], Any]:
    """How a stored value becomes the field's value; NULL stays None for an optional field."""
    kinds = [kind for kind in typing.get_args(hint) if kind is not NoneType] if isinstance(hint, UnionType) else [hint]
    (kind,) = kinds  # a field is one type, perhaps optional
    if kind is bool or (isinstance(kind, type) and issubclass(kind, Enum)):
        return lambda value: None if value is None else kind(value)
    if kind is Text:
        return lambda value: None if value is None else Text.from_json(value)
    return lambda value: value


_DECODERS: Final = {name: _decoder(hint) for name, hint in typing.get_type_hints(Job).items() if name in COLUMNS}


def to_job(row: Row) -> Job:
    """The Job a row selected with every column holds."""
    return Job(**{name: _DECODERS[name](row[name]) for name in COLUMNS})


def to_value(value: object) -> object:
    """A field's value as it is stored."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Text):
        return value.to_json()
    return value


def changes(before: Job, after: Job) -> Mapping[str, object]:
    """The columns whose values differ between two versions of one job, with the new values as stored."""
    return {name: to_value(getattr(after, name)) for name in COLUMNS if getattr(after, name) != getattr(before, name)}
