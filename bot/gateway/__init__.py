"""The video gateway: wire formats, response parsing and error translation."""
