"""The Discord front: slash commands, status messages, delivery into threads, and persistent buttons."""
