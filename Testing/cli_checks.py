"""What a command prints on stderr: progress lines (``[  1.2 s] stage``) and, on failure, one error line."""

from __future__ import annotations

import re

PROGRESS_LINE = re.compile(r"^\[ *\d+\.\d s\] ")


def error_lines(err: str) -> list[str]:
    """The lines of stderr that are not progress lines."""
    return [line for line in err.strip().splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
