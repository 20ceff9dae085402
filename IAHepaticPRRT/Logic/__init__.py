"""IAHepaticPRRT: intra-arterial versus intravenous PRRT of neuroendocrine liver metastases.

Computation on numpy arrays with explicit geometry (no Slicer import), an MRML adapter and
headless host in :mod:`iahepaticprrt.mrml`, and the ``iahprrt`` command line.
"""

from .version import __version__

__all__ = ["__version__"]
