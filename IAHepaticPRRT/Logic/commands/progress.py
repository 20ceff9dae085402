"""Progress of a long command on stderr, stage by stage, with the elapsed time.

The package's long functions take ``progress(fraction, message)`` (the panel's progress bar uses the
same calls). On a terminal this draws one bar that updates in place; otherwise (a log file, CI) it
prints one line per new message, so a log shows every stage and when it started. ``--quiet`` silences
it. The results themselves go to stdout as JSON, never mixed with progress.
"""

from __future__ import annotations

import sys
import time


class ProgressPrinter:
    """A ``progress(fraction, message)`` callable that writes to ``stream`` (stderr by default)."""

    BAR_WIDTH = 24

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_message = None
        self.bar_open = False

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, fraction: float, message: str) -> None:
        if self.quiet:
            return
        fraction = min(max(float(fraction), 0.0), 1.0)
        if self.tty:
            filled = int(round(self.BAR_WIDTH * fraction))
            line = (f"\r[{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] {100 * fraction:3.0f} % "
                    f"{self.elapsed_s():6.1f} s  {message[:70]:<70}")
            self.stream.write(line)
            self.bar_open = fraction < 1.0
            if not self.bar_open:
                self.stream.write("\n")
        elif message != self.last_message:
            self.stream.write(f"[{self.elapsed_s():6.1f} s] {message}\n")
        self.last_message = message
        self.stream.flush()

    def done(self, message: str = "done") -> None:
        self(1.0, message)

