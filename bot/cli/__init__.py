"""Operator commands: `python -m bot generate` and `python -m bot check`."""

from enum import IntEnum


class ExitCode(IntEnum):
    """What the operator commands exit with."""

    OK = 0
    JOB_FAILED = 1
    ERROR = 1  # the bot itself stopped on an unexpected error
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 130  # SIGINT (Ctrl-C)
    TERMINATED = 143  # SIGTERM
