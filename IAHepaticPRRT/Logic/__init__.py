"""IAHepaticPRRT: intra-arterial versus intravenous PRRT of neuroendocrine liver metastases.

Sub-packages by domain, in layers (an arrow is "may import"; import-linter's contracts in
pyproject.toml enforce them, docs/architecture.md explains them)::

    cli -> commands | known_answers -> mrml -> study -> report | phantom
        -> uptake | registration | dosimetry -> io -> imaging -> errors, version

Packages on one line separated by ``|`` are independent of each other. Computation works on numpy
arrays with explicit geometry and never imports Slicer; only :mod:`iahepaticprrt.mrml` (and the
module file beside this package) touches MRML.
"""

from .version import __version__

__all__ = ["__version__"]
