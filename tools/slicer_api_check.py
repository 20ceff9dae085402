"""Check every Slicer, MRML, CTK and Qt name the module file and its .ui use against the names that
exist in a pinned Slicer release (Testing/Data/slicer-api/, made by tools/generate_slicer_api_list.py).

The Slicer application cannot run here, so a misspelt property, a signal signature that does not
exist or a C++ method Python cannot call (a public method that is neither a slot nor
Q_INVOKABLE) would only show inside Slicer. This script finds, without running anything:

- in the .ui: every widget and layout class, every property set on a widget (except dynamic ones,
  stdset="0"), every enum value, every custom widget and every signal/slot connection;
- in the module file: every name imported from ``slicer``, every attribute, method, property,
  signal and enum reached from ``qt``, ``ctk``, ``slicer`` (``slicer.app``, ``slicer.mrmlScene``,
  ``slicer.modules.<name>``, ``slicer.util``, ``slicer.parameterNodeWrapper``,
  ``slicer.ScriptedLoadableModule``, ``SampleData``), from the .ui's widgets (``self.ui.<name>``),
  from the module's own classes and their Slicer bases, and from the package's ``ModuleLogic``
  (checked against the package itself); keyword arguments of Slicer's Python functions; signal
  signatures given to PythonQt's ``connect``.

Types are followed through assignments, return types recorded in the list (C++ ``T*`` returns,
Qt's documented returns) and annotations (``node: "slicer.vtkMRMLTableNode" = ...``). A value
that comes from a Slicer call whose type the list does not know cannot be checked further: using
an attribute of it is reported ("annotate it"), so nothing reached from Slicer goes unchecked
silently. Values from the package or plain Python are not Slicer names and are not checked here.

    python tools/slicer_api_check.py [MODULE_FILE [UI_FILE [API_LIST]]]

prints one line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "IAHepaticPRRT" / "IAHepaticPRRT.py"
UI_FILE = ROOT / "IAHepaticPRRT" / "Resources" / "UI" / "IAHepaticPRRT.ui"
API_LIST = ROOT / "Testing" / "Data" / "slicer-api" / "slicer-v5.12.3-api.json"

#: C++ types PythonQt hands to Python as Python values (no Slicer names behind them).
PYTHON_VALUE_TYPES = {
    "void", "bool", "int", "uint", "double", "float", "char", "qint64", "quint64", "long", "QString", "QStringList",
    "QByteArray", "QVariant", "QVariantList", "QVariantMap", "QList", "QVector", "QHash", "QMap", "QObjectList",
    "std::string", "std::vector", "char*", "constchar*", "vtkIdType", "vtkMTimeType", "size_t", "PyObject",
}
#: Python functions whose result the checker knows (PythonQt/Slicer helpers returning UI namespaces).
SPECIAL_RETURNS = {("slicer.util", "childWidgetVariables"): "ui"}


# ---- the list of names that exist ------------------------------------------------------------------
@dataclass
class ClassInfo:
    name: str
    origin: str                      # qt, ctk, slicer, vtk, pythonqt
    bases: list = field(default_factory=list)
    qobject: bool = False
    members: dict = field(default_factory=dict)     # name -> return class name ("" unknown or a Python value)
    properties: dict = field(default_factory=dict)  # name -> type name
    signals: list = field(default_factory=list)     # normalised signatures
    slots: list = field(default_factory=list)
    header: str = ""


@dataclass
class PyClassInfo:
    qualname: str
    bases: list = field(default_factory=list)       # qualnames (Slicer) or "module.Class" (stdlib)
    members: dict = field(default_factory=dict)     # name -> parameter list (methods) or None (attributes)


class StoredApi:
    """The list of names as stored in Testing/Data (JSON)."""

    def __init__(self, path: Path = API_LIST):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.about = {k: v for k, v in data.items() if k not in ("classes", "python", "python_classes")}
        self.classes = {}
        for name, info in data["classes"].items():  # stored as a member list and the known return classes
            info = dict(info)
            returns = info.pop("returns", {})
            info["members"] = {member: returns.get(member, "") for member in info["members"]}
            self.classes[name] = ClassInfo(name, **info)
        self.python = data["python"]                    # module -> {name: kind or parameter list}
        self.python_classes = {q: PyClassInfo(q, **info) for q, info in data["python_classes"].items()}
        self.slicer_namespace = data["slicer_namespace"]
        self.slicer_modules = set(data["slicer_modules"])

    def cls(self, name: str) -> ClassInfo | None:
        return self.classes.get(name)

    def py_module(self, dotted: str) -> dict | None:
        return self.python.get(dotted)

    def py_class(self, qualname: str) -> PyClassInfo | None:
        return self.python_classes.get(qualname)


# ---- normalising Qt signatures ---------------------------------------------------------------------
def normalise_type(text: str) -> str:
    text = re.sub(r"\bconst\b", "", text).replace("&", "")
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s*([*<>,])\s*", r"\1", text)
    return text


def split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def normalise_signature(name: str, params: str) -> str:
    """``name(T1,T2)`` with defaults, parameter names, const and & removed (Qt's normalised form)."""
    types = []
    for param in split_top(params):
        param = param.split("=")[0].strip()
        if not param or param == "void":
            continue
        param = normalise_type(param)
        match = re.match(r"^(.*[\w>*])\s*\b([A-Za-z_]\w*)$", param)
        if match and not re.fullmatch(r"(unsigned|signed|long|short)", match.group(1).strip()):
            param = match.group(1)
        types.append(normalise_type(param))
    return f"{name}({','.join(types)})"


# ---- what the checker follows ------------------------------------------------------------------------
@dataclass(frozen=True)
class T:
    """The type of an expression: ``kind`` and what it refers to."""

    kind: str          # class, instance, signal, ns, pymodule, pyclass, pyinstance, pyfunc, local, localinst,
    #                    ui, modulesns, logicclass, logicinst, value, opaque
    name: str = ""
    extra: object = None

    def __repr__(self):
        return f"{self.kind}:{self.name}"


VALUE = T("value")


@dataclass
class Use:
    where: str          # "IAHepaticPRRT.py:123" or "IAHepaticPRRT.ui: widget x"
    what: str           # the name as checked, e.g. "QProgressBar.value"
    ok: bool
    problem: str = ""


class Checker:
    def __init__(self, api, module_file: Path = MODULE_FILE, ui_file: Path = UI_FILE, logic_class=None):
        self.api = api
        self.module_file = Path(module_file)
        self.ui_file = Path(ui_file)
        self.uses: list[Use] = []
        self.ui_widgets: dict[str, str] = {}
        self.root_widget_class = ""
        self.logic_class = logic_class
        self.local_classes: dict[str, dict] = {}
        self.module_names: dict[str, T] = {}
        self._receivers: dict[int, str] = {}

    # ---- recording ---------------------------------------------------------------------------------
    def ok(self, where, what):
        self.uses.append(Use(where, what, True))

    def problem(self, where, what, message):
        self.uses.append(Use(where, what, False, message))

    @property
    def problems(self) -> list[Use]:
        return [u for u in self.uses if not u.ok]

    # ---- class chains ------------------------------------------------------------------------------
    def chain(self, name: str) -> list[ClassInfo]:
        out, todo, seen = [], [name], set()
        while todo:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            info = self.api.cls(current)
            if info is None:
                continue
            out.append(info)
            todo.extend(info.bases)
        if any(c.qobject for c in out):
            extra = self.api.cls("PythonQt::QObject")
            if extra is not None:
                out.append(extra)
        return out

    def member_of(self, class_name: str, member: str) -> tuple[bool, T]:
        """Does ``member`` exist on an instance of ``class_name`` (or the class: enums, statics)?"""
        for info in self.chain(class_name):
            if member in info.properties:
                return True, self.type_of_cpp(info.properties[member])
            if member in info.members:
                return True, T("method", member, self.type_of_cpp(info.members[member]))
            if any(s.split("(")[0] == member for s in info.signals):
                return True, T("signal", member, class_name)
        return False, VALUE

    def signals_of(self, class_name: str) -> set[str]:
        return {s for info in self.chain(class_name) for s in info.signals}

    def slots_of(self, class_name: str) -> set[str]:
        return {s for info in self.chain(class_name) for s in info.slots} | self.signals_of(class_name)

    def type_of_cpp(self, type_name: str) -> T:
        if not type_name:
            return VALUE
        base = type_name.replace("*", "").strip()
        if base in PYTHON_VALUE_TYPES or base.split("<")[0] in PYTHON_VALUE_TYPES or base.startswith("Q") and \
                "<" in base:
            return VALUE
        if self.api.cls(base) is not None:
            return T("instance", base)
        return T("opaque", base)

    def property_known(self, class_name: str, prop: str) -> bool:
        return any(prop in info.properties for info in self.chain(class_name))

    # ---- the .ui -----------------------------------------------------------------------------------
    def check_ui(self):
        where = self.ui_file.name
        root = ET.parse(self.ui_file).getroot()
        top = root.find("widget")
        self.root_widget_class = top.get("class")
        for custom in root.iter("customwidget"):
            name, extends, header = custom.findtext("class"), custom.findtext("extends"), custom.findtext("header")
            for cls in (name, extends):
                self._class_exists(f"{where}: custom widget {name}", cls)
            info = self.api.cls(name)
            if info is not None and info.header and header != info.header:
                self.problem(f"{where}: custom widget {name}", f"{name} header {header}",
                             f"the class is declared in {info.header}")
        for element in root.iter():
            if element.tag not in ("widget", "layout"):
                continue
            cls, name = element.get("class"), element.get("name")
            if element.tag == "widget":
                self.ui_widgets[name] = cls
            if not self._class_exists(f"{where}: {element.tag} {name}", cls):
                continue
            for prop in element.findall("property"):
                pname = prop.get("name")
                label = f"{where}: {element.tag} {name}"
                if prop.get("stdset") == "0":
                    continue
                if self.property_known(cls, pname):
                    self.ok(label, f"{cls}.{pname}")
                else:
                    self.problem(label, f"{cls}.{pname}", "no such property")
                self._ui_values(label, prop)
        for spacer in root.iter("spacer"):
            for prop in spacer.findall("property"):
                self._ui_values(f"{where}: spacer {spacer.get('name')}", prop)
        for connection in root.iter("connection"):
            sender, signal = connection.findtext("sender"), connection.findtext("signal")
            receiver, slot = connection.findtext("receiver"), connection.findtext("slot")
            label = f"{where}: connection {sender}.{signal} -> {receiver}.{slot}"
            for widget, signature, available, kind in (
                    (sender, signal, self.signals_of, "signal"), (receiver, slot, self.slots_of, "slot")):
                cls = self.ui_widgets.get(widget)
                if cls is None:
                    self.problem(label, widget, "no widget of that name in the .ui")
                    continue
                wanted = normalise_signature(*re.match(r"(\w+)\((.*)\)$", signature).groups())
                if wanted in available(cls):
                    self.ok(label, f"{cls}::{wanted}")
                else:
                    self.problem(label, f"{cls}::{wanted}", f"no such {kind}")

    def _ui_values(self, label, prop):
        for element in prop.iter():
            if element.tag in ("enum", "set") and element.text:
                for value in element.text.split("|"):
                    owner, _, member = value.strip().rpartition("::")
                    found, _ = self.member_of(owner, member) if self.api.cls(owner) else (False, VALUE)
                    (self.ok(label, value) if found else self.problem(label, value.strip(), "no such enum value"))

    def _class_exists(self, label, cls) -> bool:
        if self.api.cls(cls) is not None:
            self.ok(label, cls)
            return True
        self.problem(label, cls, "no such class")
        return False

    # ---- the module file ---------------------------------------------------------------------------
    def check_module(self):
        tree = ast.parse(self.module_file.read_text(encoding="utf-8"))
        self.module_names = {}
        for node in tree.body:
            self._bind_imports(node, self.module_names)
        for node in tree.body:  # local classes first, so that methods can refer to each other
            if isinstance(node, ast.ClassDef):
                self.local_classes[node.name] = self._local_class(node)
                self.module_names[node.name] = T("local", node.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.module_names[node.name] = T("localfunc", node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.module_names[target.id] = VALUE
        for _ in range(2):  # a first pass learns the types of self.<attr>, the second checks with them
            self.uses = [u for u in self.uses if u.where.startswith(self.ui_file.name)]
            for node in tree.body:
                self._statement(node, dict(self.module_names), None)

    def _bind_imports(self, node, names):
        where = f"{self.module_file.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if alias.name in ("qt", "ctk", "slicer"):
                    names[bound] = T("ns", alias.name)
                elif self.api.py_module(alias.name) is not None:
                    names[bound] = T("pymodule", alias.name)
                    self.ok(where, f"import {alias.name}")
                else:
                    names[bound] = VALUE
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module == "slicer":
                    names[bound] = self._attribute(T("ns", "slicer"), alias.name, where)
                elif node.module.startswith("slicer.") or self.api.py_module(node.module) is not None:
                    names[bound] = self._py_module_member(node.module, alias.name, where)
                elif node.module == "iahepaticprrt.mrml.module_logic" and alias.name == "ModuleLogic":
                    names[bound] = T("logicclass", "ModuleLogic")
                else:
                    names[bound] = VALUE

    def _py_module_member(self, module, name, where) -> T:
        info = self.api.py_module(module)
        if info is None:
            self.problem(where, f"{module}", "no such Slicer Python module")
            return VALUE
        if name not in info:
            self.problem(where, f"{module}.{name}", "no such name")
            return VALUE
        self.ok(where, f"{module}.{name}")
        kind = info[name]
        if kind == "class":
            return T("pyclass", f"{module}.{name}")
        if kind == "module":
            return T("pymodule", f"{module}.{name}")
        if isinstance(kind, list):
            return T("pyfunc", f"{module}.{name}", tuple(kind))
        return VALUE

    def _local_class(self, node: ast.ClassDef) -> dict:
        members = {}
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                members[item.name] = T("localmethod", item.name)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                members[item.target.id] = VALUE
            elif isinstance(item, ast.Assign):
                for target in item.targets:
                    if isinstance(target, ast.Name):
                        members[target.id] = VALUE
        decorators = [d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in node.decorator_list]
        if "parameterNodeWrapper" in decorators:
            for name in self.api.py_module("slicer.parameterNodeWrapper").get("__wrapper_members__", []):
                members.setdefault(name, VALUE)
        return {"node": node, "members": members, "attributes": {}, "bases": node.bases}

    # ---- statements and expressions ------------------------------------------------------------------
    def _statement(self, node, scope: dict, owner: str | None):
        where = f"{self.module_file.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                self._expr(base, scope, owner)
            for item in node.body:
                self._statement(item, dict(scope), node.name)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = dict(scope)
            for decorator in node.decorator_list:
                self._expr(decorator, scope, owner)
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for index, arg in enumerate(arguments):
                if index == 0 and owner and arg.arg == "self" and not any(
                        isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list):
                    inner["self"] = T("localinst", owner)
                elif arg.annotation is not None:
                    inner[arg.arg] = self._annotation(arg.annotation, scope, where)
                else:
                    inner[arg.arg] = VALUE
            for statement in node.body:
                self._bind_imports(statement, inner)
                self._statement(statement, inner, owner)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self._bind_imports(node, scope)
            return
        if isinstance(node, ast.AnnAssign):
            declared = self._annotation(node.annotation, scope, where)
            if node.value is not None:
                value = self._expr(node.value, scope, owner)
                if declared == VALUE:
                    declared = value
            self._assign(node.target, declared, scope, owner, annotated=True)
            return
        if isinstance(node, ast.Assign):
            value = self._expr(node.value, scope, owner)
            for target in node.targets:
                self._assign(target, value, scope, owner)
            return
        if isinstance(node, (ast.For, ast.AsyncFor)):
            self._expr(node.iter, scope, owner)
            self._assign(node.target, VALUE, scope, owner)
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self._expr(item.context_expr, scope, owner)
                if item.optional_vars is not None:
                    self._assign(item.optional_vars, VALUE, scope, owner)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self._statement(child, scope, owner)
            elif isinstance(child, ast.expr) and not isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
                self._expr(child, scope, owner)
            elif isinstance(child, ast.ExceptHandler):
                if child.name:
                    scope[child.name] = VALUE
                for statement in child.body:
                    self._statement(statement, scope, owner)
            elif isinstance(child, ast.withitem):
                pass

    def _assign(self, target, value: T, scope, owner, annotated=False):
        if isinstance(target, ast.Name):
            scope[target.id] = value
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self" \
                and owner in self.local_classes:
            attributes = self.local_classes[owner]["attributes"]
            if annotated or attributes.get(target.attr, VALUE) == VALUE:
                attributes[target.attr] = value
            self.local_classes[owner]["members"].setdefault(target.attr, VALUE)
        elif isinstance(target, ast.Attribute):
            self._expr(target, scope, owner)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assign(element, VALUE, scope, owner)

    def _annotation(self, node, scope, where) -> T:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.split("|")[0].strip()
            try:
                node = ast.parse(text, mode="eval").body
            except SyntaxError:
                self.problem(where, text, "unreadable annotation")
                return VALUE
        if isinstance(node, ast.BinOp):  # X | None
            node = node.left
        if isinstance(node, ast.Name) and node.id in self.local_classes:
            return T("localinst", node.id)
        # Annotations are never evaluated: qt, ctk and slicer need not be imported to be named there.
        kind = self._expr(node, {**scope, "qt": T("ns", "qt"), "ctk": T("ns", "ctk"), "slicer": T("ns", "slicer")},
                          None)
        if kind.kind == "class":
            return T("instance", kind.name)
        if kind.kind == "pyclass":
            return T("pyinstance", kind.name)
        if kind.kind == "local":
            return T("localinst", kind.name)
        return VALUE

    def _expr(self, node, scope: dict, owner) -> T:
        where = f"{self.module_file.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Name):
            if node.id in scope:
                return scope[node.id]
            return VALUE
        if isinstance(node, ast.Attribute):
            base = self._expr(node.value, scope, owner)
            if base.kind in ("instance", "class"):
                self._receivers[id(node)] = base.name
            return self._attribute(base, node.attr, where)
        if isinstance(node, ast.Call):
            function = self._expr(node.func, scope, owner)
            arguments = [self._expr(a, scope, owner) for a in node.args]
            for keyword in node.keywords:
                self._expr(keyword.value, scope, owner)
            return self._call(function, node, arguments, where)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self._expr(child, scope, owner)
            elif isinstance(child, ast.comprehension):
                self._expr(child.iter, scope, owner)
                self._assign(child.target, VALUE, scope, owner)
                for condition in child.ifs:
                    self._expr(condition, scope, owner)
        return VALUE

    def _attribute(self, base: T, attr: str, where: str) -> T:
        kind = base.kind
        if kind == "ns":
            if base.name == "slicer":
                if attr == "modules":
                    return T("modulesns")
                if attr in self.api.slicer_namespace:
                    self.ok(where, f"slicer.{attr}")
                    target = self.api.slicer_namespace[attr]
                    return T("instance", target) if self.api.cls(target) else T("opaque", target)
                if self.api.py_module(f"slicer.{attr}") is not None:
                    self.ok(where, f"slicer.{attr}")
                    return T("pymodule", f"slicer.{attr}")
            info = self.api.cls(attr)
            if info is not None and info.origin == base.name:
                self.ok(where, f"{base.name}.{attr}")
                return T("class", attr)
            self.problem(where, f"{base.name}.{attr}", "no such name")
            return VALUE
        if kind == "modulesns":
            if attr.lower() == attr and attr in self.api.slicer_modules:
                self.ok(where, f"slicer.modules.{attr}")
                return T("instance", "qSlicerAbstractCoreModule")
            self.problem(where, f"slicer.modules.{attr}", "no such module")
            return VALUE
        if kind in ("class", "instance", "pyclass", "pyinstance"):
            # Slicer/CTK/Qt/VTK classes are looked up in the API list, Slicer's Python classes in its modules.
            lookup = self.member_of if kind in ("class", "instance") else self._py_member
            found, member = lookup(base.name, attr)
            if found:
                self.ok(where, f"{base.name}.{attr}")
                return member
            self.problem(where, f"{base.name}.{attr}", "no such member")
            return VALUE
        if kind == "signal":
            if attr in ("connect", "disconnect", "emit"):
                self.ok(where, f"{base.extra}.{base.name}.{attr}")
            else:
                self.problem(where, f"{base.extra}.{base.name}.{attr}", "a signal has connect, disconnect, emit")
            return VALUE
        if kind == "method":
            return VALUE
        if kind == "pymodule":
            return self._py_module_member(base.name, attr, where)
        if kind in ("local", "localinst"):
            return self._local_member(base, attr, where)
        if kind in ("logicclass", "logicinst"):
            if self.logic_class is None:
                return VALUE
            if hasattr(self.logic_class, attr):
                self.ok(where, f"ModuleLogic.{attr}")
                return T("logicmethod", attr)
            self.problem(where, f"ModuleLogic.{attr}", "no such module logic member")
            return VALUE
        if kind == "ui":
            cls = self.ui_widgets.get(attr)
            if cls is None:
                self.problem(where, f"ui.{attr}", "no widget of that name in the .ui")
                return VALUE
            self.ok(where, f"ui.{attr}")
            return T("instance", cls)
        if kind == "opaque":
            self.problem(where, f"{base.name}.{attr}", f"the type {base.name} is not in the list: annotate the value "
                                                         "or regenerate the list")
            return VALUE
        return VALUE

    def _local_member(self, base: T, attr: str, where: str) -> T:
        info = self.local_classes[base.name]
        if attr in info["attributes"] and info["attributes"][attr] != VALUE:
            return info["attributes"][attr]
        if attr in info["members"]:
            return info["members"][attr]
        for base_node in info["bases"]:
            base_type = self._expr(base_node, dict(self.module_names), None)
            if base_type.kind == "pyclass":
                found, member = self._py_member(base_type.name, attr)
                if found:
                    self.ok(where, f"{base_type.name}.{attr}")
                    return member
            elif base_type.kind == "logicclass":
                if self.logic_class is None or hasattr(self.logic_class, attr):
                    if self.logic_class is not None:
                        self.ok(where, f"ModuleLogic.{attr}")
                    return T("logicmethod", attr)
            elif base_type.kind == "local":
                found = self._local_member(base_type, attr, where)
                if found is not None:
                    return found
            elif base_type.kind in ("value",):
                return VALUE
        if attr in info["attributes"]:
            return info["attributes"][attr]
        self.problem(where, f"{base.name}.{attr}", "no such member of the class or its Slicer bases")
        return VALUE

    def _py_member(self, qualname: str, attr: str) -> tuple[bool, T]:
        todo, seen = [qualname], set()
        while todo:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            info = self.api.py_class(current)
            if info is not None:
                if attr in info.members:
                    params = info.members[attr]
                    return True, T("pyfunc", f"{current}.{attr}", tuple(params)) if isinstance(params, list) else VALUE
                todo.extend(info.bases)
                continue
            module, _, name = current.rpartition(".")  # a base outside Slicer (the standard library)
            try:
                external = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError, ValueError):
                continue
            if hasattr(external, attr):
                return True, VALUE
        return False, VALUE

    def _call(self, function: T, node: ast.Call, arguments: list[T], where: str) -> T:
        kind = function.kind
        if kind == "class":
            return T("instance", function.name)
        if kind == "pyclass":
            return T("pyinstance", function.name)
        if kind == "local":
            return T("localinst", function.name)
        if kind == "logicclass":
            return T("logicinst", "ModuleLogic")
        if kind == "method":
            if function.name in ("connect", "disconnect") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                self._check_signal_argument(self._receivers.get(id(node.func)), node.args[0].value, where)
            return function.extra if isinstance(function.extra, T) else VALUE
        if kind == "pyfunc":
            params = function.extra or ()
            if "**" not in params:
                for keyword in node.keywords:
                    if keyword.arg is None:
                        continue
                    if keyword.arg in params:
                        self.ok(where, f"{function.name}({keyword.arg}=)")
                    else:
                        self.problem(where, f"{function.name}({keyword.arg}=)", "no such keyword argument")
            module, _, name = function.name.rpartition(".")
            special = SPECIAL_RETURNS.get((module, name))
            return T("ui") if special == "ui" else VALUE
        if kind == "logicmethod" and self.logic_class is not None:
            method = getattr(self.logic_class, function.name, None)
            try:
                signature = inspect.signature(method)
            except (TypeError, ValueError):
                return VALUE
            if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg not in signature.parameters:
                        self.problem(where, f"ModuleLogic.{function.name}({keyword.arg}=)", "no such keyword argument")
            return VALUE
        return VALUE

    def _check_signal_argument(self, receiver_class: str | None, text: str, where: str):
        """PythonQt's ``obj.connect("signal(args)", callable)``: the signal must exist on obj's class."""
        match = re.match(r"(\w+)\((.*)\)$", text.strip())
        if not match:
            self.problem(where, text, "not a signal signature")
            return
        if receiver_class is None:
            return
        wanted = normalise_signature(*match.groups())
        if wanted in self.signals_of(receiver_class):
            self.ok(where, f"{receiver_class}::{wanted}")
        else:
            self.problem(where, f"{receiver_class}::{wanted}", "no such signal")


def check(api=None, module_file: Path = MODULE_FILE, ui_file: Path = UI_FILE, logic_class="auto") -> Checker:
    """Run every check; the returned checker holds every use (``uses``) and the ``problems``."""
    if logic_class == "auto":
        try:
            from iahepaticprrt.mrml.module_logic import ModuleLogic as logic_class
        except ImportError:  # the package is not installed: its names are not checked
            logic_class = None
    checker = Checker(api or StoredApi(), module_file, ui_file, logic_class)
    checker.check_ui()
    checker.check_module()
    return checker


def main(argv: list[str]) -> int:
    module_file = Path(argv[0]) if argv else MODULE_FILE
    ui_file = Path(argv[1]) if len(argv) > 1 else UI_FILE
    api = StoredApi(Path(argv[2])) if len(argv) > 2 else StoredApi()
    checker = check(api, module_file, ui_file)
    for use in checker.problems:
        print(f"{use.where}: {use.what}: {use.problem}")
    checked = len({(u.what) for u in checker.uses if u.ok})
    print(f"{checked} Slicer/CTK/Qt names checked against Slicer {api.about['slicer']['tag']}, "
          f"{len(checker.problems)} problem(s)", file=sys.stderr)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
