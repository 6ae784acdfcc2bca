"""``make messages``: extract the message ids from the code into reelbot.pot, then bring every catalogue up to it.

New ids arrive untranslated (or fuzzy, when Babel finds a near one); tests/test_locales.py fails until each is
translated and checked. Ids no longer in the code leave the catalogues.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from babel.messages.frontend import CommandLineInterface

from bot.locales import DIRECTORY, DOMAIN, LANGUAGES, catalogue_path

ROOT: Final = DIRECTORY.parent.parent
SOURCES: Final = ("bot", "cogs")
# The functions whose string arguments are message ids (Babel's keyword spec: the argument positions).
KEYWORDS: Final = {
    "_": None,
    "N_": None,
    "_n": (1, 2),
    "translate": (2,),
    "translate_plural": (2, 3),
    "locale_str": None,
}
TEMPLATE: Final = DIRECTORY / f"{DOMAIN}.pot"
WIDTH: Final = "120"


def _keyword_options() -> list[str]:
    options = ["--no-default-keywords"]
    for name, positions in KEYWORDS.items():
        spec = name if positions is None else f"{name}:{','.join(str(p) for p in positions)}"
        options += ["-k", spec]
    return options


def main() -> None:
    """Extract, then update (or create) each language's catalogue."""
    cli = CommandLineInterface()
    run: Callable[[list[str]], object] = cli.run  # Babel's command line, as `pybabel` runs it (not annotated)
    sources = [str(ROOT / source) for source in SOURCES]
    common = ["--no-location", "--sort-output", "--width", WIDTH, "--project", "Reelbot"]
    run(["pybabel", "-q", "extract", *_keyword_options(), *common, "-o", str(TEMPLATE), *sources])
    for language in LANGUAGES:
        action = "update" if catalogue_path(language).exists() else "init"
        extra = ["--ignore-obsolete", "--width", WIDTH] if action == "update" else ["--width", WIDTH]
        run(["pybabel", "-q", action, "-D", DOMAIN, "-i", str(TEMPLATE), "-d", str(DIRECTORY), "-l", language, *extra])
    print(f"Updated {TEMPLATE.relative_to(ROOT)} and the catalogues of {', '.join(LANGUAGES)}.")  # noqa: T201


if __name__ == "__main__":
    main()
