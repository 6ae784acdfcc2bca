"""The text progress bar that the Discord status message and the terminal both draw."""


def render_bar(progress: int | None, width: int) -> str:
    """A text bar such as [#########.....................]; an unknown progress shows an empty bar."""
    filled = round(width * (progress or 0) / 100)
    return "[" + "#" * filled + "." * (width - filled) + "]"
