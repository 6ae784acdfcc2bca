"""Moderation: what prompts the bot refuses, and why."""
