"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml) pass on the
package, and each contract breaks when a copy of the package is given the import it forbids."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "IAHepaticPRRT" / "Logic"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(python_path: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if python_path is not None:
        # A folder holding a copy named ``iahepaticprrt`` shadows the installed package: the path
        # finder comes before setuptools' editable finder.
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          capture_output=True, text=True, env=env, cwd=python_path or ROOT, timeout=120)


def test_the_package_keeps_every_import_contract():
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, statement, broken", [
    # An inner layer importing an outer one.
    ("imaging/grid.py", "from ..study import pipeline", "Layers"),
    # Two domains that must stay independent.
    ("dosimetry/cycle.py", "from ..registration import register", "Layers"),
    # Production code depending on the synthetic patient.
    ("study/pipeline.py", "from ..phantom import generate", "synthetic patient"),
    # Slicer in the core (the command line runs without it).
    ("uptake/suv.py", "from ..mrml import adapter", "Slicer"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, statement, broken):
    copy = tmp_path / "iahepaticprrt"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{statement}  # deliberate violation\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_lines = [line for line in result.stdout.splitlines() if "BROKEN" in line or broken in line]
    assert any(broken in line for line in broken_lines), result.stdout
    assert "0 broken" not in result.stdout
    # The report names the offending import.
    importer = "iahepaticprrt." + module.removesuffix(".py").replace("/", ".")
    assert importer in result.stdout, result.stdout


def test_the_core_imports_only_what_slicer_bundles():
    """The README's promise: numpy, scipy, pydicom, SimpleITK and vtk (with Slicer's own ``slicer``
    in the MRML layer); highdicom, the optional ``dicom`` extra, only where DICOM SEG and SR are written."""
    import ast
    import sys
    from collections import defaultdict
    from pathlib import Path

    found = defaultdict(set)
    logic = Path(__file__).resolve().parents[1] / "IAHepaticPRRT" / "Logic"
    for path in logic.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in sys.stdlib_module_names:
                    found[name.split(".")[0]].add(path.relative_to(logic).as_posix())
    assert set(found) <= {"numpy", "scipy", "pydicom", "SimpleITK", "vtk", "slicer", "highdicom"}, dict(found)
    assert found["highdicom"] <= {"io/dicom_results.py"}
