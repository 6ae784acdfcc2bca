"""Operator commands: `python -m bot generate` and `python -m bot check`."""
