"""Logging set-up: one format for every module, and secrets redacted from whatever gets written."""

from __future__ import annotations

import logging
from collections.abc import Iterable

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Replaces each known secret with a placeholder in the finished log line, tracebacks included."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(_FORMAT)
        # Short values would redact innocent text; real tokens and keys are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then redact."""
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def setup_logging(level: int, secrets: Iterable[str] = ()) -> None:
    """Send every log record to stderr, redacted, at ``level``."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log and discord.py's gateway chatter are noise below WARNING.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # it logs every statement at DEBUG
    # At DEBUG, discord.py logs every request body and gateway event: prompts, which must not outlive /video forget.
    logging.getLogger("discord.http").setLevel(logging.INFO)
    logging.getLogger("discord.gateway").setLevel(logging.INFO)
    # At DEBUG, discord.py logs every interaction and webhook URL, with the interaction's token: a credential.
    logging.getLogger("discord.webhook").setLevel(logging.INFO)
    # At DEBUG, botocore logs every bucket request with its headers and signing steps.
    logging.getLogger("botocore").setLevel(logging.INFO)
    logging.getLogger("aiobotocore").setLevel(logging.INFO)
