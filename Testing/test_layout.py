"""The extension layout Slicer's build and the Extensions Index rely on."""

from __future__ import annotations

import json
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import update_module_cmake  # noqa: E402


def _cmake_list(text: str, variable: str) -> list[str]:
    match = re.search(rf"set\({variable}\s+(.*?)\)", text, re.S)
    assert match, f"{variable} not found in the module CMakeLists.txt"
    return [line.strip() for line in match.group(1).split() if line.strip()]


def test_every_module_file_is_listed_and_every_listed_file_exists():
    text = (ROOT / "IAHepaticPRRT" / "CMakeLists.txt").read_text()
    listed = [p.replace("${MODULE_NAME}", "IAHepaticPRRT")
              for p in _cmake_list(text, "MODULE_PYTHON_SCRIPTS") + _cmake_list(text, "MODULE_PYTHON_RESOURCES")]
    scripts, resources = update_module_cmake.module_files()
    on_disk = set(scripts) | set(resources)
    missing_on_disk = sorted(set(listed) - on_disk)
    unlisted = sorted(on_disk - set(listed))
    assert not missing_on_disk, f"listed in CMakeLists.txt but absent: {missing_on_disk}"
    assert not unlisted, f"present but not listed (run tools/update_module_cmake.py): {unlisted}"
    assert "WITH_GENERIC_TESTS" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_every_subpackage_is_packaged():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(pyproject["tool"]["setuptools"]["packages"])
    logic = ROOT / "IAHepaticPRRT" / "Logic"
    found = {"iahepaticprrt" + "".join("." + part for part in init.parent.relative_to(logic).parts)
             for init in logic.rglob("__init__.py") if "__pycache__" not in init.parts}
    assert found == packages


def test_core_dependencies_are_what_slicer_bundles():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in pyproject["project"]["dependencies"]}
    assert names == {"numpy", "scipy", "pydicom", "simpleitk", "vtk"}
    assert "slicer-core==5.13.31053.0" in pyproject["project"]["optional-dependencies"]["headless"]


def test_extension_metadata():
    text = (ROOT / "CMakeLists.txt").read_text()
    settings = re.findall(r"^set\((EXTENSION_\w+) (.*)\)$", text, re.M)
    names = {name for name, _ in settings}
    for required in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                     "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert required in names
    for name, value in settings:
        assert value.startswith('"') and value.endswith('"') and value.count('"') == 2, name
    # Every EXTENSION_ line is one complete set(...) call.
    for line in text.splitlines():
        if "EXTENSION_" in line and line.startswith("set("):
            assert line.endswith(")"), line
    project = re.search(r"^project\((\w+)\)", text, re.M).group(1)
    assert (ROOT / f"{project}.json").is_file() and (ROOT / f"{project}.s4ext").is_file()
    entry = json.loads((ROOT / f"{project}.json").read_text())
    assert entry["category"] == "Nuclear Medicine"
    assert entry["scm_url"].split("/")[-1].removesuffix(".git").startswith("Slicer")
    assert not project.startswith("Slicer")
    assert (ROOT / "LICENSE.txt").is_file()


def test_ui_file_parses_and_names_the_widgets_the_module_uses():
    ui = ROOT / "IAHepaticPRRT" / "Resources" / "UI" / "IAHepaticPRRT.ui"
    names = {w.get("name") for w in ET.parse(ui).getroot().iter("widget")}
    module = (ROOT / "IAHepaticPRRT" / "IAHepaticPRRT.py").read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", module))
    assert used <= names, f"widgets used but absent from the .ui file: {sorted(used - names)}"


def _text_files():
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & {".git", ".venv", "Data", "__pycache__", "build", "dist"} or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and path.suffix in (".py", ".md", ".toml", ".txt", ".json", ".ui", ".cmake") \
                or path.name == "CMakeLists.txt":
            yield path


def test_citations_point_inside_the_repository():
    """Code, docs and the report cite docs/physics.md (or primary sources), never a file a user's
    clone does not have; every cited section exists."""
    physics = (ROOT / "docs" / "physics.md").read_text()
    # Spelled in pieces so that this file does not cite them itself.
    old_note, outside = "PHYSICS" + ".md", ("../" + "shared", "BRIEF" + "ING")
    sections = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", physics, re.M))
    cited = []
    for path in _text_files():
        text = path.read_text(errors="replace")
        name = path.relative_to(ROOT).as_posix()
        if name != "docs/physics.md":
            assert old_note not in text, f"{name} cites {old_note}, which is not in the repository"
        assert not any(o in text for o in outside), f"{name} cites a file outside the repository"
        for match in re.finditer(r"physics\.md sections? ((?:\d+(?:\.\d+)?(?:,? and |, )?)+)", text):
            cited.extend((name, number) for number in re.findall(r"\d+(?:\.\d+)?", match.group(1)))
    assert len(cited) > 30
    missing = sorted({(name, number) for name, number in cited if number not in sections})
    assert not missing, f"cited sections absent from docs/physics.md: {missing}"


def test_every_top_level_python_file_of_the_module_folder_is_the_module_or_an_executable():
    """Slicer registers every file of the module folder itself (not of its sub-folders:
    qSlicerAbstractModuleFactoryManager::registerModules lists QDir::Files of the folder, Slicer
    v5.12.3). Its scripted-module factory takes each .py file there for a module, unless the file's
    first line starts with "#!" (qSlicerUtils::isCLIScriptedExecutable, which makes it a CLI
    candidate instead): any other .py file there logs "Fail to instantiate module" at every start-up."""
    module_dir = ROOT / "IAHepaticPRRT"
    offenders = []
    for path in sorted(module_dir.glob("*.py")):
        first_line = path.read_text(encoding="utf-8-sig").splitlines()[0] if path.stat().st_size else ""
        if path.name != "IAHepaticPRRT.py" and not first_line.startswith("#!"):
            offenders.append(path.name)
    assert not offenders, f"plain .py files Slicer would load as modules: {offenders}"
    assert (module_dir / "Scripts" / "iahprrt.py").is_file()


def test_the_entry_script_runs_the_command_line_from_its_sub_folder(tmp_path):
    """The script Slicer runs with --python-script imports the package from the Logic folder one
    level up (a copy of the module folder, so that the pip-installed package cannot stand in)."""
    import shutil
    import subprocess

    copy = tmp_path / "IAHepaticPRRT"
    shutil.copytree(ROOT / "IAHepaticPRRT" / "Scripts", copy / "Scripts")
    shutil.copytree(ROOT / "IAHepaticPRRT" / "Logic", copy / "Logic", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import runpy, sys\n"
            "sys.argv = ['iahprrt.py', '--', '--version']\n"
            "try:\n"
            f"    runpy.run_path({str(copy / 'Scripts' / 'iahprrt.py')!r}, run_name='__main__')\n"
            "finally:\n"
            "    print('PACKAGE', sys.modules['iahepaticprrt'].__file__)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "IAHepaticPRRT" / "Logic" / "version.py").read_text())
    assert f"iahprrt {version.group(1)}" in run.stdout
    assert f"PACKAGE {copy / 'Logic' / '__init__.py'}" in run.stdout
