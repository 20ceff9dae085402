"""Generate Testing/Data/slicer-api/slicer-<tag>-api.json: the Slicer, CTK, Qt and VTK names the
module file and its .ui use, with every member of each class involved, taken from the sources of a
pinned Slicer release (tools/slicer_api_check.py checks against it; Testing/test_slicer_api.py runs it).

Where the names come from:

- Slicer: the C++ headers and Python sources of the release tag (a git clone of
  https://github.com/Slicer/Slicer): Q_PROPERTY, signals, public slots and Q_INVOKABLE methods of
  QObject classes (PythonQt exposes only these), public methods and enum values of VTK classes
  (VTK's wrapping; vtkGet/Set/BooleanMacro expanded), functions, parameters, classes and attributes
  of the Python modules (slicer.util, ScriptedLoadableModule, parameterNodeWrapper, SampleData);
  the module names (``slicer.modules.<name>``) from the module folders; ``slicer.app`` and
  ``slicer.mrmlScene`` from the documentation of Base/Python/slicer/__init__.py.
- CTK: the headers at the revision Slicer pins in SuperBuild/External_CTK.cmake (a git clone of
  https://github.com/commontk/CTK).
- Qt: a real Qt 5 API, PyQt5's (its own members per class, properties and signal/slot signatures
  from each class's QMetaObject, return types from its docstrings), dumped by running
  ``--pyqt-python`` (a Python with the PyQt5 wheel from PyPI installed; the version is recorded).
- PythonQt: the QObject decorators (connect, disconnect, ...) from src/PythonQtStdDecorators.h of
  a git clone of https://github.com/commontk/PythonQt (``--pythonqt-revision``).
- VTK base classes (vtkObject, vtkObjectBase): the installed ``vtk`` Python package.

    python tools/generate_slicer_api_list.py --slicer /path/to/Slicer.git --tag v5.12.3 \\
        --ctk /path/to/CTK.git --pythonqt /path/to/PythonQt.git --pythonqt-revision patched-10 \\
        --pyqt-python /path/to/venv-with-PyQt5/bin/python
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slicer_api_check as check  # noqa: E402
from slicer_api_check import ClassInfo, PyClassInfo, normalise_signature, normalise_type, split_top  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: Python modules of Slicer the module file may use, and their source files in the Slicer tree.
PYTHON_MODULES = {
    "slicer.util": ["Base/Python/slicer/util.py"],
    "slicer.ScriptedLoadableModule": ["Base/Python/slicer/ScriptedLoadableModule.py"],
    "slicer.parameterNodeWrapper": [f"Base/Python/slicer/parameterNodeWrapper/{name}.py" for name in (
        "__init__", "default", "guiConnectors", "guiCreation", "parameterPack", "serializers", "types",
        "validators", "util", "wrapper", "parameterInfo")],
    "SampleData": ["Modules/Scripted/SampleData/SampleData.py"],
}

PYQT_DUMP = r'''
import inspect, json, re, sys
from PyQt5 import QtCore, QtGui, QtWidgets
from PyQt5.QtCore import PYQT_VERSION_STR, QT_VERSION_STR, QMetaMethod
out = {"pyqt": PYQT_VERSION_STR, "qt": QT_VERSION_STR, "classes": {}}
for module in (QtCore, QtGui, QtWidgets):
    for name, cls in vars(module).items():
        if not inspect.isclass(cls) or not name.startswith("Q") and name != "Qt":
            continue
        members = {}
        for member, value in vars(cls).items():
            if member.startswith("__"):
                continue
            returns = ""
            doc = getattr(value, "__doc__", None) or ""
            match = re.search(r"->\s*([A-Za-z_]\w*)", doc.splitlines()[0] if doc else "")
            if match:
                returns = match.group(1)
            members[member.rstrip("_") if member in ("exec_", "print_") else member] = returns
        info = {"bases": [b.__name__ for b in cls.__bases__ if b.__name__ not in ("object", "simplewrapper", "wrapper")],
                "members": members, "properties": {}, "signals": [], "slots": [], "qobject": False}
        meta = getattr(cls, "staticMetaObject", None)
        if meta is not None and isinstance(meta, QtCore.QMetaObject):
            info["qobject"] = issubclass(cls, QtCore.QObject)
            for i in range(meta.propertyOffset(), meta.propertyCount()):
                prop = meta.property(i)
                info["properties"][prop.name()] = prop.typeName() or ""
            for i in range(meta.methodOffset(), meta.methodCount()):
                method = meta.method(i)
                signature = bytes(method.methodSignature()).decode()
                if method.methodType() == QMetaMethod.Signal:
                    info["signals"].append(signature)
                elif method.methodType() == QMetaMethod.Slot:
                    info["slots"].append(signature)
        out["classes"][name] = info
json.dump(out, sys.stdout)
'''


# ---- git sources -----------------------------------------------------------------------------------
class GitTree:
    def __init__(self, repository: str, revision: str):
        self.repository, self.revision = repository, revision
        self.commit = self._git("rev-parse", f"{revision}^{{commit}}").strip()
        self.files = self._git("ls-tree", "-r", "--name-only", self.commit).splitlines()
        self.headers = {}
        for path in self.files:
            if path.endswith(".h"):
                self.headers.setdefault(Path(path).name, path)

    def _git(self, *args) -> str:
        return subprocess.run(["git", "-C", self.repository, *args], check=True, capture_output=True,
                              text=True, errors="replace").stdout

    def read(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")


# ---- C++ headers -----------------------------------------------------------------------------------
def _strip_comments(text: str) -> str:
    """The text without comments, string and character literals (a "//" inside a string, as in a
    URL, must not start a comment) and preprocessor lines."""
    out, index, length = [], 0, len(text)
    while index < length:
        ch, nxt = text[index], text[index + 1] if index + 1 < length else ""
        if ch == "/" and nxt == "/":
            end = text.find("\n", index)
            index = length if end == -1 else end
        elif ch == "/" and nxt == "*":
            end = text.find("*/", index + 2)
            index = length if end == -1 else end + 2
            out.append(" ")
        elif ch in "\"'":
            end = index + 1
            while end < length and text[end] != ch:
                end += 2 if text[end] == "\\" else 1
            out.append('""' if ch == '"' else "' '")
            index = end + 1
        else:
            out.append(ch)
            index += 1
    return re.sub(r"^\s*#[^\n]*", " ", "".join(out).replace("\\\n", " "), flags=re.M)


def _balanced(text: str, start: int, open_ch: str = "(", close_ch: str = ")") -> int:
    """Index just past the bracket matching the one at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == open_ch:
            depth += 1
        elif text[index] == close_ch:
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _macro_calls(text: str, pattern: str):
    """(match, arguments text, end) of each ``NAME(...)`` call of a macro matching ``pattern``."""
    for match in re.finditer(rf"\b({pattern})\s*\(", text):
        end = _balanced(text, match.end() - 1)
        yield match, text[match.end():end - 1], end


def parse_cpp_class(header_text: str, name: str, header: str, origin: str) -> ClassInfo | None:
    text = _strip_comments(header_text)
    match = re.search(rf"\bclass\s+(?:\w+\s+)?{re.escape(name)}\b\s*(?:final\s*)?(:[^{{;]*)?\{{", text)
    if not match:
        return None
    end = _balanced(text, match.end() - 1, "{", "}")
    body = text[match.end():end - 1]
    bases = []
    for base in split_top((match.group(1) or ":")[1:]):
        base = re.sub(r"\b(public|protected|private|virtual)\b", "", base).strip()
        if base:
            bases.append(re.sub(r"<.*", "", base).split("::")[-1].strip())
    info = ClassInfo(name, origin, bases, qobject=bool(re.search(r"\bQ_OBJECT\b", body)), header=Path(header).name)
    # Q_PROPERTY(type name READ ...), Q_ENUM(S), then every other macro without a semicolon.
    for _, args, _ in _macro_calls(body, "Q_PROPERTY"):
        words = normalise_type(args).replace("*", "* ").split()
        read = words.index("READ") if "READ" in words else len(words)
        if read >= 2:
            info.properties[words[read - 1]] = "".join(words[:read - 1])
    vtk_type = re.search(r"\bvtkTypeMacro\s*\(\s*\w+\s*,\s*(\w+)\s*\)", body)
    if vtk_type and not bases:
        info.bases = [vtk_type.group(1)]
    for macro, args, _ in _macro_calls(body, r"vtk\w*Macro"):
        macro_name, first = macro.group(1), split_top(args)[0].strip() if args.strip() else ""
        if macro_name == "vtkBooleanMacro":
            info.members[f"{first}On"] = ""
            info.members[f"{first}Off"] = ""
        elif re.match(r"vtk(Get|Set)", macro_name):
            prefix = re.match(r"vtk(Get|Set)", macro_name).group(1)
            info.members[f"{prefix}{first}"] = ""
        elif macro_name == "vtkTypeMacro":
            for member in ("IsA", "IsTypeOf", "SafeDownCast", "NewInstance"):
                info.members[member] = ""
        elif macro_name == "vtkMRMLCopyContentMacro":
            info.members.update({"CopyContent": "", "HasCopyContent": ""})
    body = re.sub(r"\bQ_PROPERTY\s*\((?:[^()]|\([^()]*\))*\)", " ", body)
    body = re.sub(r"\bvtk\w*Macro\s*\((?:[^()]|\([^()]*\))*\)\s*;?", " ;", body)
    body = re.sub(r"\b(Q_OBJECT|Q_GADGET|QVTK_OBJECT|Q_INVOKABLE_MARKER)\b", " ", body)
    body = re.sub(r"\b(Q_ENUMS?|Q_FLAGS?|Q_DECLARE_\w+|Q_DISABLE_COPY\w*|VTK_\w+|QVTK_\w+)\s*\((?:[^()]|\([^()]*\))*\)",
                  " ", body)
    body = re.sub(r"\bVTK_(NEWINSTANCE|FUTURE_CONST|WRAPEXCLUDE|DEPRECATED\w*)\b", " ", body)
    # Walk the declarations at the class's top level, following the access labels.
    access, section, index, statement = "private", "", 0, ""
    while index < len(body):
        ch = body[index]
        if ch in ";{":
            head = statement
            statement = ""
            if ch == "{":
                close = _balanced(body, index, "{", "}")
                inner = body[index + 1:close - 1]
                index = close
            else:
                inner = None
                index += 1
            while True:
                label = re.match(r"\s*(public|protected|private)\s*(slots|Q_SLOTS)?\s*:(?!:)", head) or \
                    re.match(r"\s*(signals|Q_SIGNALS)\s*:(?!:)", head)
                if not label:
                    break
                if label.group(1) in ("signals", "Q_SIGNALS"):
                    access, section = "public", "signals"
                else:
                    access, section = label.group(1), "slots" if label.group(2) else ""
                head = head[label.end():]
            _declaration(info, head.strip(), inner, access, section)
            continue
        statement += ch
        index += 1
    return info


def _declaration(info: ClassInfo, head: str, inner: str | None, access: str, section: str):
    if not head or access != "public":
        return
    if re.match(r"(typedef|using|friend|template|class|struct|union)\b", head):
        return
    enum = re.match(r"enum\b\s*(class\s+)?(\w+)?", head)
    if enum:
        if inner is not None:
            for value in split_top(inner):
                value = value.split("=")[0].strip()
                if re.fullmatch(r"[A-Za-z_]\w*", value):
                    info.members[value] = ""
        return
    invokable = "Q_INVOKABLE" in head
    head = re.sub(r"\b(Q_INVOKABLE|virtual|static|inline|explicit|constexpr|Q_REQUIRED_RESULT)\b", " ", head)
    call = re.search(r"(~?[A-Za-z_]\w*|operator\s*\S+)\s*\(", head)
    if not call:
        return
    name = call.group(1)
    if name.startswith("~") or name.startswith("operator") or name == info.name:
        return
    params = head[call.end():_balanced(head, call.end() - 1) - 1]
    returns = head[:call.start()].strip()
    returns = normalise_type(returns)
    ret_class = returns[:-1] if returns.endswith("*") and re.fullmatch(r"\w+\*", returns) else ""
    if section == "signals":
        info.signals.append(normalise_signature(name, params))
        info.members.setdefault(name, "")
        return
    if section == "slots":
        info.slots.append(normalise_signature(name, params))
    if info.qobject and not (section == "slots" or invokable):
        return  # a plain public method of a QObject class: PythonQt does not expose it
    if name not in info.members or ret_class:
        info.members[name] = ret_class


# ---- Python sources --------------------------------------------------------------------------------
def _parameters(function: ast.FunctionDef) -> list[str]:
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg:
        names.append("*")
    if args.kwarg:
        names.append("**")
    return names


def parse_python_module(sources: dict[str, str], module: str, python_classes: dict) -> dict:
    """name -> "class" | [parameters] | "value" for one Slicer Python module made of ``sources``
    (path -> text). A file with ``__all__`` exports those names only (``from .x import *``); a
    package's ``__init__.py`` also exports what it imports by name. Every class is also recorded in
    ``python_classes`` with its bases and members."""
    names: dict = {}
    wrapper_members = []
    for path, text in sources.items():
        tree = ast.parse(text)
        exported = None
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                exported = {elt.value for elt in node.value.elts if isinstance(elt, ast.Constant)}
        found: dict = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = _parameters(node)
            elif isinstance(node, ast.ClassDef):
                found[node.name] = "class"
                python_classes[f"{module}.{node.name}"] = _python_class(node, module, tree)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, "value")
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and (len(sources) == 1 or path.endswith("__init__.py")):
                for alias in node.names:
                    if alias.name != "*":
                        found.setdefault(alias.asname or alias.name.split(".")[0], "value")
        star_imported = len(sources) > 1 and not path.endswith("__init__.py")  # the package's __init__ does import *
        for name, kind in found.items():
            if not star_imported or exported is None or name in exported:
                if names.get(name, "value") == "value":
                    names[name] = kind
        if path.endswith("wrapper.py"):  # checkedSetAttr(classtype, "connectGui", ...): the wrapper's methods
            for call in ast.walk(tree):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "checkedSetAttr" \
                        and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant):
                    wrapper_members.append(call.args[1].value)
    if wrapper_members:
        names["__wrapper_members__"] = sorted(set(wrapper_members) | {"parameterNode"})
    return names


def _python_class(node: ast.ClassDef, module: str, tree: ast.Module) -> PyClassInfo:
    imported = {}
    for item in tree.body:
        if isinstance(item, ast.Import):
            for alias in item.names:
                imported[alias.asname or alias.name] = alias.name
        elif isinstance(item, ast.ImportFrom) and item.module:
            for alias in item.names:
                imported[alias.asname or alias.name] = f"{item.module}.{alias.name}"
    local = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    bases = []
    for base in node.bases:
        text = ast.unparse(base)
        head, _, rest = text.partition(".")
        if text in local:
            bases.append(f"{module}.{text}")
        elif head in imported:
            bases.append(imported[head] + (f".{rest}" if rest else ""))
        else:
            bases.append(text)
    members: dict = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            members[item.name] = _parameters(item)[1:] if item.args.args and item.args.args[0].arg in (
                "self", "cls") else _parameters(item)
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            for target in (item.targets if isinstance(item, ast.Assign) else [item.target]):
                if isinstance(target, ast.Name):
                    members[target.id] = None
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Assign, ast.AnnAssign)):
            for target in (sub.targets if isinstance(sub, ast.Assign) else [sub.target]):
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                    members.setdefault(target.attr, None)
    return PyClassInfo(f"{module}.{node.name}", bases, members)


# ---- the API read from the sources, recording what the check uses --------------------------------------
class SourceApi:
    def __init__(self, slicer: GitTree, ctk: GitTree, pythonqt: GitTree, pyqt: dict):
        import vtk

        self.slicer, self.ctk, self.pythonqt, self.pyqt, self.vtk = slicer, ctk, pythonqt, pyqt, vtk
        self.classes: dict[str, ClassInfo | None] = {}
        self.used: set[str] = set()
        self.python_classes: dict[str, PyClassInfo] = {}
        self.python = {module: parse_python_module({p: slicer.read(p) for p in paths}, module, self.python_classes)
                       for module, paths in PYTHON_MODULES.items()}
        self.used_python_classes: set[str] = set()
        init = slicer.read("Base/Python/slicer/__init__.py")
        self.slicer_namespace = {}
        for attribute, body in re.findall(r"\.\. py:attribute:: (\w+)\n(.*?)(?=\n\.\. py:attribute::|\Z)", init, re.S):
            found = re.search(r"``(q\w+|vtk\w+)``|<\w+\.(vtk\w+)\(", body)
            if found and attribute != "modules":  # slicer.modules holds one object per module, by name
                self.slicer_namespace[attribute] = found.group(1) or found.group(2)
        self.slicer_modules = sorted({Path(p).parts[2].lower() for p in slicer.files if p.startswith(
            ("Modules/Loadable/", "Modules/Scripted/", "Modules/CLI/")) and len(Path(p).parts) > 3})

    def cls(self, name: str) -> ClassInfo | None:
        if name not in self.classes:
            self.classes[name] = self._load(name)
        if self.classes[name] is not None:
            self.used.add(name)
        return self.classes[name]

    def _load(self, name: str) -> ClassInfo | None:
        if name == "PythonQt::QObject":
            return self._pythonqt_qobject()
        if name in self.pyqt["classes"] and (name.startswith("Q") or name == "Qt"):
            raw = self.pyqt["classes"][name]
            return ClassInfo(name, "qt", raw["bases"], raw["qobject"], raw["members"], raw["properties"],
                             raw["signals"], raw["slots"])
        if name.startswith("ctk") and f"{name}.h" in self.ctk.headers:
            path = self.ctk.headers[f"{name}.h"]
            return parse_cpp_class(self.ctk.read(path), name, path, "ctk")
        if f"{name}.h" in self.slicer.headers:
            path = self.slicer.headers[f"{name}.h"]
            return parse_cpp_class(self.slicer.read(path), name, path, "slicer")
        if name.startswith("vtk") and hasattr(self.vtk, name):
            cls = getattr(self.vtk, name)
            bases = [b.__name__ for b in cls.__bases__ if b.__name__.startswith("vtk")]
            return ClassInfo(name, "vtk", bases, False, {m: "" for m in vars(cls) if not m.startswith("__")})
        return None

    def _pythonqt_qobject(self) -> ClassInfo:
        """Methods PythonQt adds to every QObject: its decorator slots whose first argument is QObject*."""
        text = _strip_comments(self.pythonqt.read("src/PythonQtStdDecorators.h"))
        info = parse_cpp_class(text, "PythonQtStdDecorators", "PythonQtStdDecorators.h", "pythonqt")
        members = {}
        for signature in info.slots:
            name, params = re.match(r"(\w+)\((.*)\)", signature).groups()
            if not name.startswith("static_") and params.startswith("QObject*"):
                members[name] = ""
        return ClassInfo("PythonQt::QObject", "pythonqt", [], False, members)

    def py_module(self, dotted: str) -> dict | None:
        return self.python.get(dotted)

    def py_class(self, qualname: str) -> PyClassInfo | None:
        info = self.python_classes.get(qualname)
        if info is None and qualname.startswith("slicer.parameterNodeWrapper."):  # re-exported sub-module names
            info = self.python_classes.get(qualname)
        if info is not None:
            self.used_python_classes.add(qualname)
        return info


def generate(args) -> dict:
    slicer = GitTree(args.slicer, args.tag)
    external = slicer.read("SuperBuild/External_CTK.cmake")
    ctk_revision = re.search(r'Slicer_\$\{proj\}_GIT_TAG\s*"([0-9a-f]{40})"', external).group(1)
    ctk = GitTree(args.ctk, ctk_revision)
    pythonqt = GitTree(args.pythonqt, args.pythonqt_revision)
    dump = subprocess.run([args.pyqt_python, "-c", PYQT_DUMP], check=True, capture_output=True, text=True).stdout
    pyqt = json.loads(dump)
    api = SourceApi(slicer, ctk, pythonqt, pyqt)
    checker = check.check(api, check.MODULE_FILE, check.UI_FILE)
    problems = [f"{u.where}: {u.what}: {u.problem}" for u in checker.problems]
    classes = {}
    for name in sorted(api.used):
        info = api.classes[name]
        classes[name] = {"origin": info.origin, "bases": info.bases, "qobject": info.qobject,
                         "members": sorted(info.members),
                         "returns": {m: r for m, r in sorted(info.members.items()) if r},
                         "properties": dict(sorted(info.properties.items())),
                         "signals": sorted(set(info.signals)), "slots": sorted(set(info.slots)), "header": info.header}
    import vtk

    return {
        "about": "Names that exist in the pinned Slicer release, for tools/slicer_api_check.py: only the classes "
                 "the module file and the .ui use (with their bases), each with all its members.",
        "generated_by": "tools/generate_slicer_api_list.py",
        "slicer": {"repository": "https://github.com/Slicer/Slicer", "tag": args.tag, "commit": slicer.commit},
        "ctk": {"repository": "https://github.com/commontk/CTK", "revision": ctk.commit,
                "pinned_by": f"SuperBuild/External_CTK.cmake of Slicer {args.tag}"},
        "qt": {"source": "PyQt5 wheel from PyPI (QtCore, QtGui, QtWidgets)", "pyqt_version": pyqt["pyqt"],
               "qt_version": pyqt["qt"], "slicer_requires": "Qt 5.15 (Slicer_REQUIRED_QT_VERSION)"},
        "pythonqt": {"repository": "https://github.com/commontk/PythonQt", "revision": pythonqt.commit,
                     "branch": args.pythonqt_revision, "file": "src/PythonQtStdDecorators.h"},
        "vtk": {"source": "vtk Python package", "version": vtk.vtkVersion.GetVTKVersion()},
        "problems_when_generated": problems,
        "slicer_namespace": api.slicer_namespace,
        "slicer_modules": api.slicer_modules,
        "python": api.python,
        "python_classes": {q: {"bases": i.bases, "members": i.members} for q, i in sorted(api.python_classes.items())
                           if q in api.used_python_classes or q.startswith("slicer.ScriptedLoadableModule.")},
        "classes": classes,
    }


def write(data: dict, path: Path) -> None:
    """One line per class, module and Python class: small, and diffs show what changed."""
    lines = ["{"]
    keys = list(data)
    for position, key in enumerate(keys):
        value = data[key]
        comma = "," if position < len(keys) - 1 else ""
        if isinstance(value, dict) and key in ("classes", "python", "python_classes"):
            lines.append(f"  {json.dumps(key)}: {{")
            inner = list(value.items())
            for index, (name, item) in enumerate(inner):
                lines.append(f"    {json.dumps(name)}: {json.dumps(item, separators=(',', ':'))}"
                             + ("," if index < len(inner) - 1 else ""))
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slicer", required=True, help="a git clone of Slicer")
    parser.add_argument("--tag", default="v5.12.3")
    parser.add_argument("--ctk", required=True, help="a git clone of CTK")
    parser.add_argument("--pythonqt", required=True, help="a git clone of commontk/PythonQt")
    parser.add_argument("--pythonqt-revision", default="patched-10")
    parser.add_argument("--pyqt-python", required=True, help="a Python with PyQt5 installed")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    data = generate(args)
    output = args.output or ROOT / "Testing" / "Data" / "slicer-api" / f"slicer-{args.tag}-api.json"
    write(data, output)
    print(f"wrote {output}: {len(data['classes'])} classes; problems in the module file: "
          f"{len(data['problems_when_generated'])}")
    for problem in data["problems_when_generated"]:
        print("  " + problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
