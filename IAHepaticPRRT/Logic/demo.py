"""The demo: every analysis the package has, on the bundled synthetic trial patient."""

from __future__ import annotations

import os
from pathlib import Path


def run_demo(output: str | os.PathLike, seed: int = 1) -> Path:
    """Run the demo into ``output`` and return the path of its report."""
    raise NotImplementedError("the demo needs the synthetic patient (issue 3)")
