"""Slash-command modules; bot/front/run.py names them and the bot loads them by name."""
