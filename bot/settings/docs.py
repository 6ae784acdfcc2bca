"""`.env.example` and README's settings table, written from the Settings declarations.

``python -m bot.settings.docs`` (in the repository) rewrites both; a test fails when the committed ones differ.
"""

from __future__ import annotations

import argparse
import textwrap
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

from bot.settings import Settings
from bot.settings.readers import Need, Section, Spec, spec_of

TABLE_START = "<!-- settings-table:start -->"
TABLE_END = "<!-- settings-table:end -->"
_TABLE_NOTE = (
    "<!-- Written by `python -m bot.settings.docs` from bot/settings/__init__.py: edit the declarations there. -->"
)
_WIDTH = 118
_ENV_HEAD = """\
# Reelbot configuration. Copy to .env (read from the working directory) or set these in the environment; the
# environment wins over .env. Settings marked (required) have no default; every other line shows its default.
# Written by `python -m bot.settings.docs` from the declarations in bot/settings/__init__.py: edit them there.
"""


def env_example() -> str:
    """The whole text of .env.example."""
    blocks = [_ENV_HEAD]
    section: Section | None = None
    for item in fields(Settings):
        spec = spec_of(item)
        if spec.section != section:
            section = spec.section
            blocks.append(f"\n# --- {section.title} ".ljust(_WIDTH, "-") + "\n")
            if section.intro:
                blocks.append(_comment(section.intro))
        need = "" if spec.need is Need.OPTIONAL else f"({spec.need.value}) "
        blocks.append(_comment(f"{need}{spec.help} {spec.details}".rstrip() + _empty(spec)))
        line = f"{item.name.upper()}={_default_text(item.default)}"
        blocks.append(f"# {line}\n" if spec.commented else f"{line}\n")
    return "".join(blocks)


def readme_table() -> str:
    """README's settings table, between its markers."""
    rows = [TABLE_START, _TABLE_NOTE, "| setting | default | meaning |", "|---|---|---|"]
    for item in fields(Settings):
        spec = spec_of(item)
        rows.append(f"| `{item.name.upper()}` | {_default_cell(item, spec)} | {_meaning(spec)} |")
    rows.append(TABLE_END)
    return "\n".join(rows) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the text between the table markers (included) replaced by the current table."""
    start = readme.find(TABLE_START)
    end = readme.find(TABLE_END, start)
    if start < 0 or end < 0:
        raise ValueError(f"README.md has lost the lines {TABLE_START} and {TABLE_END} around its settings table")
    end += len(TABLE_END)
    return readme[:start] + readme_table().rstrip("\n") + readme[end:]


def _comment(words: str) -> str:
    lines = textwrap.wrap(words, _WIDTH, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def _empty(spec: Spec) -> str:
    return f" Empty: {spec.empty}." if spec.empty else ""


def _default_text(value: object) -> str:
    if value is None or (isinstance(value, str | tuple | frozenset) and not value):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _default_cell(item: Field[Any], spec: Spec) -> str:
    if spec.need is not Need.OPTIONAL:
        return f"({spec.need.value})"
    shown = _default_text(item.default)
    if not shown:
        return "(empty)"
    return shown if isinstance(item.default, int | float) else f"`{shown}`"


def _meaning(spec: Spec) -> str:
    return f"{spec.help}{_empty(spec)}".replace("|", "\\|")


def main() -> None:
    """Rewrite .env.example and README's table in the given repository (default: the working directory)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=Path(), help="the repository's root (default: here)")
    root = parser.parse_args().root
    (root / ".env.example").write_text(env_example())
    readme = root / "README.md"
    try:
        readme.write_text(with_table(readme.read_text()))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
