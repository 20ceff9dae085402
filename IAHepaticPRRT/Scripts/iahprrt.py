"""Entry point for the ``iahprrt`` command line inside Slicer, and the package bootstrap.

    Slicer --no-main-window --python-script /path/to/IAHepaticPRRT/Scripts/iahprrt.py -- demo -o out

This file lives in a sub-folder of the module folder on purpose: Slicer's module factories register
every file of the module folder itself (qSlicerAbstractModuleFactoryManager::registerModules lists
``QDir::Files`` of each module path, without recursion), and its scripted-module factory would try
to instantiate a module ``iahprrt`` from a plain top-level .py file. Sub-folders are not scanned.

The package sits in ``Logic/`` beside this folder and is always imported under the name
``iahepaticprrt`` (never as ``Logic``, a name other extensions use too).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

#: The package folder: IAHepaticPRRT/Logic, one level up from this Scripts/ folder.
LOGIC_DIR = Path(__file__).resolve().parent.parent / "Logic"


def import_package():
    """Import ``iahepaticprrt`` from the module's ``Logic`` folder (or the installed one)."""
    if "iahepaticprrt" in sys.modules:
        return sys.modules["iahepaticprrt"]
    if not (LOGIC_DIR / "__init__.py").is_file():
        import iahepaticprrt  # installed with pip

        return iahepaticprrt
    spec = importlib.util.spec_from_file_location(
        "iahepaticprrt", LOGIC_DIR / "__init__.py", submodule_search_locations=[str(LOGIC_DIR)])
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
