"""Errors raised on bad input.

Every refusal names the file (or input) and the field that made it impossible to compute a
correct number, so that a user can fix the input instead of trusting a plausible wrong value.
The command line turns an :class:`InputError` into one line on stderr and exit status 2.
"""

from __future__ import annotations

import os


class InputError(ValueError):
    """An input that cannot give a correct result.

    Parameters
    ----------
    message:
        What is wrong and, where possible, how to fix it.
    source:
        The file, folder or input the problem is in (a path or a description such as
        ``"--weight-kg"``).
    field:
        The DICOM attribute, column, segment or option at fault, for example
        ``"PatientWeight (0010,1030)"``.
    """

    def __init__(self, message: str, source: str | os.PathLike | None = None, field: str | None = None):
        self.message = message
        self.source = None if source is None else os.fspath(source)
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ComputationError(RuntimeError):
    """A computation that did not reach a trustworthy result (for example a registration whose
    metric did not improve). Reported like an input error: no partial output is written."""
