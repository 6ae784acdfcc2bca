"""A database URL said without its password, checked for what drivers would misread, and its password's forms.

The user part is taken to be everything between the scheme's ``//`` and the URL's last ``@``: a password with an
unescaped ``/``, ``@`` or ``:`` is never shown, though it is refused (``problem``), since urllib and asyncpg split
such a URL elsewhere.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

HIDDEN: Final = "***"
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _split(url: str) -> tuple[str, str | None, str]:
    """What precedes the user part, the user part (None without an ``@``), and what follows its ``@``."""
    scheme, slashes, rest = url.partition("://")
    head = scheme + slashes if slashes else ""
    userinfo, at, after = (rest if slashes else url).rpartition("@")
    if not at:
        return head, None, rest if slashes else url
    return head, userinfo, after


def shown(url: str) -> str:
    """The URL with ``***`` for its password, for logs and messages (a URL without one as it is)."""
    head, userinfo, after = _split(url)
    if userinfo is None:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{head}{user}{':' + HIDDEN if colon else ''}@{after}"


def password_forms(url: str) -> tuple[str, ...]:
    """The URL's password as written and as the driver reads it (percent-decoded): what must never be shown."""
    _, userinfo, _ = _split(url)
    if userinfo is None or ":" not in userinfo:
        return ()
    written = userinfo.partition(":")[2]
    return tuple(form for form in dict.fromkeys((written, unquote(written))) if form)


def redacted(text: str, url: str) -> str:
    """``text`` (a driver's error, say) with the URL shown without its password and the password, in any of its
    forms and however short, replaced by ``***``."""
    text = text.replace(url, shown(url))
    for form in sorted(password_forms(url), key=len, reverse=True):
        text = text.replace(form, HIDDEN)
    return text


def problem(url: str) -> str | None:
    """What in the URL's user part a driver would misread, said without showing it; None when nothing is wrong."""
    _, userinfo, _ = _split(url)
    if userinfo is None:
        return None
    if any(char in userinfo for char in "/?#@"):
        return "has a / ? # or @ in its user or password: write them percent-encoded (%2F %3F %23 %40)"
    if _BAD_ESCAPE.search(userinfo):
        return "has a % in its user or password that starts no escape: write it as %25"
    return None
