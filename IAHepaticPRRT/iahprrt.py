"""Entry point for the ``iahprrt`` command line inside Slicer, and the package bootstrap.

    Slicer --no-main-window --python-script /path/to/IAHepaticPRRT/iahprrt.py -- demo -o out

The package sits beside this file in ``Logic/`` and is always imported under the name
``iahepaticprrt`` (never as ``Logic``, a name other extensions use too).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def import_package():
    """Import ``iahepaticprrt`` from the ``Logic`` folder beside this file (or the installed one)."""
    if "iahepaticprrt" in sys.modules:
        return sys.modules["iahepaticprrt"]
    logic_dir = Path(__file__).resolve().parent / "Logic"
    if not (logic_dir / "__init__.py").is_file():
        import iahepaticprrt  # installed with pip

        return iahepaticprrt
    spec = importlib.util.spec_from_file_location(
        "iahepaticprrt", logic_dir / "__init__.py", submodule_search_locations=[str(logic_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["iahepaticprrt"] = module
    spec.loader.exec_module(module)
    return module


def _main() -> int:
    import_package()
    from iahepaticprrt.cli import main

    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    return main(args)


if __name__ == "__main__":
    status = _main()
    try:
        import slicer

        if getattr(slicer, "app", None) is not None:
            slicer.util.exit(status)
    except ImportError:
        pass
    sys.exit(status)
