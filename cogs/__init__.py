"""Slash-command modules, loaded explicitly by the bot."""

EXTENSIONS = ("cogs.video", "cogs.admin")
