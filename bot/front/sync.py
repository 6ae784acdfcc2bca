"""Command registration: to the dev guild on every start, globally only when the definitions changed.

With several shard processes, only the one holding shard 0 registers: one sync, not one per process.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands

from bot.storage import JobStore

log = logging.getLogger(__name__)

HASH_KEY = "commands_hash"


async def commands_hash(tree: app_commands.CommandTree[Any]) -> str:
    """A digest of the global command definitions as Discord would receive them, translations included."""
    translator = tree.translator
    commands = [
        await command.get_translated_payload(tree, translator) if translator else command.to_dict(tree)
        for command in tree.get_commands()
    ]
    payload = sorted(commands, key=lambda c: str(c["name"]))
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any], store: JobStore, dev_guild_id: int | None, *, holds_shard_zero: bool
) -> str:
    """Register the commands where they belong; return what was done ("guild", "global", "unchanged" or
    "elsewhere": another process holds shard 0 and registers them)."""
    if not holds_shard_zero:
        log.info("Not syncing commands: the process holding shard 0 does")
        return "elsewhere"
    if dev_guild_id is not None:
        # Guild commands appear at once, which is what a developer wants; global ones can take a while.
        guild = discord.Object(id=dev_guild_id)
        tree.copy_global_to(guild=guild)
        await tree.sync(guild=guild)
        log.info("Synced commands to the development guild %s", dev_guild_id)
        return "guild"
    digest = await commands_hash(tree)
    if await store.get_meta(HASH_KEY) == digest:
        log.info("Command definitions unchanged since the last sync; not syncing")
        return "unchanged"
    await tree.sync()
    await store.set_meta(HASH_KEY, digest)
    log.info("Synced global commands (definitions changed)")
    return "global"
