"""Persistence: the only package that speaks SQL."""

from bot.storage.store import JobStore

__all__ = ["JobStore"]
