"""Request body parsing: JSON or multipart/form-data with ``payload_json`` and ``files[n]`` parts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message as EmailHeaders
from email.parser import HeaderParser
from typing import Any

from .errors import ApiError, invalid_form


@dataclass
class UploadedFile:
    """One ``files[n]`` part, bytes exactly as received."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def index(self) -> int | None:
        """The ``n`` of ``files[n]`` (also accepts ``file`` / ``fileN``), if it is numeric."""
        match = re.fullmatch(r"files?\[?(\d*)\]?", self.field)
        if match is None or not match.group(1):
            return 0 if self.field in ("file", "files") else None
        return int(match.group(1))


@dataclass
class ParsedBody:
    """A request body: the JSON payload (from the body or ``payload_json``) and any uploaded files."""

    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False

    def summary(self) -> dict[str, Any]:
        """A short description for request records."""
        return {
            "json": self.json,
            "files": [{"field": f.field, "filename": f.filename, "size": len(f.data)} for f in self.files],
        }


def _headers(raw: bytes) -> EmailHeaders:
    return HeaderParser().parsestr(raw.decode("utf-8", "surrogateescape"))


def parse_multipart(body: bytes, boundary: str) -> list[tuple[str, str | None, str | None, bytes]]:
    """Split a multipart/form-data body into (name, filename, content_type, data) parts, bytes untouched."""
    delimiter = b"--" + boundary.encode()
    parts: list[tuple[str, str | None, str | None, bytes]] = []
    chunks = body.split(delimiter)
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        data = data.removesuffix(b"\r\n")
        headers = _headers(head)
        disposition = headers.get("Content-Disposition", "")
        name = _param(disposition, "name")
        if name is None:
            continue
        parts.append((name, _param(disposition, "filename"), headers.get("Content-Type"), data))
    return parts


def _param(header: str, key: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{key}="((?:[^"\\]|\\.)*)"', header) or re.search(rf"(?:^|;)\s*{key}=([^;]+)", header)
    if match is None:
        return None
    return match.group(1).replace('\\"', '"').strip()


def parse_body(body: bytes, content_type: str) -> ParsedBody:
    """Parse a request body by its Content-Type; invalid JSON gives Discord's 50109 error."""
    mime = content_type.split(";")[0].strip().lower()
    if mime == "multipart/form-data":
        boundary = _param(content_type, "boundary")
        if boundary is None:
            raise invalid_form({}, message="Invalid Form Body")
        parsed = ParsedBody(multipart=True)
        for name, filename, ctype, data in parse_multipart(body, boundary):
            if name == "payload_json":
                parsed.json = _loads(data)
            elif filename is not None:
                parsed.files.append(UploadedFile(field=name, filename=filename, content_type=ctype, data=data))
        return parsed
    if not body:
        return ParsedBody()
    if mime == "application/json":
        return ParsedBody(json=_loads(body))
    return ParsedBody()


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from None
