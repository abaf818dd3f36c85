"""Static checks of the Slicer module, which cannot run here (no 3D Slicer in CI).

* every ``slicer.util.X`` (and every name imported from ``slicer.util``,
  ``slicer.ScriptedLoadableModule``, ``slicer.i18n``, ``slicer.parameterNodeWrapper``)
  exists in Slicer v5.8.1, v5.12.3 **and** main;
* every UpperCamelCase attribute the module uses on MRML / VTK objects
  (``node.GetDisplayNode()``, ``slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent``)
  is a Slicer name in all three versions or a VTK name; every ``slicer.vtk…`` / ``slicer.q…``
  class and every class name given to ``AddNewNodeByClass`` exists in all three;
* every lowerCamel attribute (Slicer's Qt/CTK API: ``layoutManager().sliceViewNames()``,
  ``editor.saveStateForUndo()``) is a Slicer name of all three versions, or one of the few Qt
  names listed in ``QT_NAMES``, a widget, a parameter-node field or a ``slicer.util`` name;
* every ``self.ui.<name>`` is a widget of the ``.ui`` file, every ``SlicerParameterName``
  of the ``.ui`` is a field of the ``@parameterNodeWrapper`` class, and every Slicer
  widget class and property of the ``.ui`` exists in both versions;
* the parameter node's and the ``.ui``'s lam and sigma are MIDeepSegLib.settings';
* the module and MIDeepSegLib parse as Python 3.9 (``ast`` and ``vermin``), and ruff
  finds no undefined names.

The negative tests inject wrong names into a copy of the module and check that
the checker reports each one, so a checker that silently passes everything fails.
"""

import ast
import gzip
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "MIDeepSeg" / "MIDeepSeg.py"
UI = ROOT / "Resources" / "UI" / "MIDeepSeg.ui"
INVENTORY = Path(__file__).resolve().parent / "slicer_api"
VERSIONS = ("v5.8.1", "v5.12.3", "HEAD")

#: Roots of attribute chains that are not Slicer/VTK objects (Qt, the standard library, numpy,
#: MIDeepSegLib, other extensions' Python modules that the inventory does not cover).
FOREIGN_ROOTS = {
    "qt", "ctk", "np", "numpy", "os", "sys", "logging", "logger", "importlib", "concurrent", "unittest",
    "time", "scipy", "typing", "json", "geometry", "MIDeepSegLib", "PyTorchUtils", "SampleData",
}
#: Generic QWidget properties that may be set on any widget of the .ui.
QWIDGET_PROPERTIES = {"toolTip", "geometry", "enabled", "visible", "statusTip", "whatsThis", "sizePolicy",
                      "minimumSize", "maximumSize", "text", "objectName", "styleSheet"}
UPPER_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9_]*[a-z][A-Za-z0-9_]*$")
LOWER_CAMEL = re.compile(r"^[a-z]+[A-Z][A-Za-z0-9]*$")
#: Qt's own lowerCamel methods and properties the module uses (Qt is not in the Slicer inventory); a
#: lowerCamel name that is neither one of these, a Slicer Qt/CTK name (``sliceViewNames``,
#: ``saveStateForUndo``), a .ui widget, a parameter-node field, a ``slicer.util`` function nor defined in the
#: module is reported, so a misspelt Slicer Qt method is caught like a misspelt MRML one.
QT_NAMES = {"addItem", "addWidget", "blockSignals", "currentText", "deleteLater", "isActive", "itemText",
            "setCurrentIndex", "setInterval", "setSingleShot", "setValue", "setEnabled", "singleShot",
            "currentPath", "styleSheet", "toolTip", "windowModality", "labelText", "windowTitle", "wasCanceled",
            # methods of the objects slicer.parameterNodeWrapper makes (not in the inventory's exports)
            "connectGui", "disconnectGui"}
NODE_CLASS_METHODS = {"AddNewNodeByClass", "GetFirstNodeByClass", "GetNodesByClass", "CreateNodeByClass"}


@cache
def inventory():
    def names(path):
        with gzip.open(path, "rt") as f:
            return frozenset(line.strip() for line in f if line.strip())

    python = json.loads((INVENTORY / "python-api.json").read_text(encoding="utf-8"))
    return {
        "slicer": names(INVENTORY / "slicer-names.txt.gz"),
        "vtk": names(INVENTORY / "vtk-names.txt.gz"),
        "classes": frozenset((INVENTORY / "slicer-classes.txt").read_text(encoding="utf-8").split()),
        "python": python,
        "only_in": {v: frozenset(python[v]["only_here_cpp_names"]) for v in VERSIONS},
    }


def ui_info(ui_text):
    """(widget names, {widget name: class}, {widget name: {property names}}, SlicerParameterNames)."""
    root = ET.fromstring(ui_text)
    classes, properties, parameters = {}, {}, set()
    for widget in root.iter("widget"):
        name = widget.get("name")
        classes[name] = widget.get("class")
        properties[name] = set()
        for prop in widget.findall("property"):
            if prop.get("stdset") == "0":
                if prop.get("name") == "SlicerParameterName":
                    parameters.add(prop.findtext("string"))
            else:
                properties[name].add(prop.get("name"))
    return set(classes), classes, properties, parameters


def _python_names(api):
    """Function, class and method names of one module's entry in python-api.json."""
    names = set(api)
    for value in api.values():
        if isinstance(value, list):  # a class: its methods (a function's list holds its argument names)
            names.update(value)
    return names


def _root(node):
    """Name at the root of an attribute/call chain (``a.b().c`` -> ``a``), or None."""
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def check_module_source(source, ui_text):
    """Return a list of problems (empty when the module only uses names that exist everywhere)."""
    inv = inventory()
    problems = []
    tree = ast.parse(source, feature_version=(3, 9))
    widget_names, widget_classes, widget_properties, ui_parameters = ui_info(ui_text)

    def python_api(module):
        return [inv["python"][v][module] for v in VERSIONS]

    def require_python(module, name, where):
        missing = [v for v, api in zip(VERSIONS, python_api(module)) if name not in api]
        if missing:
            problems.append(f"{where}: {module}.{name} does not exist in Slicer {', '.join(missing)}")

    def require_class(name, where):
        if name not in inv["classes"] and name not in inv["vtk"]:
            problems.append(f"{where}: class {name} is not in the Slicer inventory of both v5.8.1 and HEAD")

    fields = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_dotted(d) == "parameterNodeWrapper" for d in node.decorator_list):
            fields |= {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}
    defined = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)

    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slicer"):
            for alias in node.names:
                if node.module == "slicer":
                    require_class(alias.name, where)
                elif node.module in ("slicer.util", "slicer.ScriptedLoadableModule", "slicer.i18n",
                                     "slicer.parameterNodeWrapper"):
                    require_python(node.module, alias.name, where)
                else:
                    problems.append(f"{where}: import from {node.module} is not covered by the inventory")
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted and dotted.startswith("slicer.util.") and dotted.count(".") == 2:
                require_python("slicer.util", node.attr, where)
            elif dotted and dotted.count(".") == 1 and dotted.startswith("slicer.") and \
                    re.match(r"^(vtk|q)[A-Z]", node.attr):
                require_class(node.attr, where)
            elif dotted and dotted.count(".") == 1 and dotted.startswith("vtk.vtk") and \
                    node.attr not in inv["vtk"] and node.attr not in inv["slicer"]:
                problems.append(f"{where}: vtk.{node.attr} is not a VTK class")
            checked_above = bool(dotted) and dotted.startswith("slicer.util.")
            if UPPER_CAMEL.match(node.attr) and node.attr not in defined and not checked_above and \
                    _root(node) not in FOREIGN_ROOTS and node.attr not in inv["slicer"] and \
                    node.attr not in inv["vtk"]:
                only = [v for v in VERSIONS if node.attr in inv["only_in"][v]]
                detail = "only in Slicer " + ", ".join(only) if only else "in neither Slicer nor VTK"
                problems.append(f"{where}: .{node.attr} is {detail}")
            if LOWER_CAMEL.match(node.attr) and node.attr not in defined and _root(node) not in FOREIGN_ROOTS \
                    and node.attr not in inv["slicer"] and node.attr not in QT_NAMES \
                    and node.attr not in widget_names and node.attr not in fields \
                    and not node.attr.startswith("assert") and not (dotted or "").startswith("slicer.util.") \
                    and not all(node.attr in _python_names(api) for api in python_api("slicer.util")) \
                    and not all(node.attr in _python_names(api) for api in python_api("slicer.ScriptedLoadableModule")):
                problems.append(f"{where}: .{node.attr} is neither a Slicer name of all versions nor a known Qt name")
            if _dotted(node.value) == "self.ui" and node.attr not in widget_names:
                problems.append(f"{where}: self.ui.{node.attr} is not a widget of {UI.name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in NODE_CLASS_METHODS and node.args and isinstance(node.args[0], ast.Constant):
            require_class(node.args[0].value, where)

    for parameter in sorted(ui_parameters - fields):
        problems.append(f"{UI.name}: SlicerParameterName {parameter!r} is not a field of the parameter node")
    for name, cls in widget_classes.items():
        if re.match(r"^q(MRML|Slicer)", cls):
            require_class(cls, f"{UI.name} widget {name}")
            for prop in sorted(widget_properties[name] - QWIDGET_PROPERTIES):
                if prop not in inv["slicer"]:
                    problems.append(f"{UI.name}: property {prop!r} of {cls} {name} not in both Slicer versions")
    return problems


# --- the checks on the real files -----------------------------------------------------------------

def test_module_uses_only_api_present_in_slicer_5_8_and_main():
    problems = check_module_source(MODULE.read_text(encoding="utf-8"), UI.read_text(encoding="utf-8"))
    assert problems == []


def test_graph_cut_defaults_are_the_library_settings():
    """The parameter node and the .ui's sliders start at MIDeepSegLib.settings' lam and sigma."""
    from MIDeepSegLib import settings

    expected = {"lam": settings.LAM, "sigma": settings.SIGMA}
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    wrapper = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name.endswith("ParameterNode"))
    defaults = {field.target.id: _dotted(field.value) for field in wrapper.body
                if isinstance(field, ast.AnnAssign) and field.target.id in expected}
    assert defaults == {"lam": "settings.LAM", "sigma": "settings.SIGMA"}
    sliders = {}
    for widget in ET.fromstring(UI.read_text(encoding="utf-8")).iter("widget"):
        parameter = widget.find("property[@name='SlicerParameterName']/string")
        if parameter is not None and parameter.text in expected:
            sliders[parameter.text] = float(widget.find("property[@name='value']/double").text)
    assert sliders == expected


def test_module_and_library_parse_as_python_3_9():
    for path in [MODULE, *sorted((ROOT / "MIDeepSegLib").rglob("*.py"))]:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))


def _vermin(*paths):
    pytest.importorskip("vermin")
    # vermin has no __main__ module: call its entry point
    command = [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())"]
    return subprocess.run([*command, "-t=3.9-", "--no-tips", "--violations", "--eval-annotations",
                           *map(str, paths)], check=False, capture_output=True, text=True)


def test_vermin_finds_nothing_newer_than_python_3_9():
    result = _vermin(MODULE, ROOT / "MIDeepSegLib")
    assert result.returncode == 0, result.stdout + result.stderr


def _ruff_undefined_names(path):
    # ruff comes with the test extra; run it from this interpreter's environment
    # (the venv need not be on PATH).
    pytest.importorskip("ruff")
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F821", "--output-format", "concise",
                           str(path)], check=False, capture_output=True, text=True)


def test_ruff_finds_no_undefined_names():
    result = _ruff_undefined_names(MODULE)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the checker must be able to fail ----------------------------------------------------------------

def _inject(old, new, count=1):
    source = MODULE.read_text(encoding="utf-8")
    assert source.count(old) >= 1, f"{old!r} no longer appears in the module: update this test"
    return source.replace(old, new, count)


@pytest.mark.parametrize("old,new,expected", [
    # a misspelt MRML method
    ("GetNthControlPointPositionWorld(index, world)", "GetNthControlPointPositionWorlds(index, world)",
     ".GetNthControlPointPositionWorlds is in neither"),
    # a misspelt event
    ("PointPositionDefinedEvent", "PointPositionDefineEvent", ".PointPositionDefineEvent is in neither"),
    # a Slicer method that exists only in 5.10+ (renamed API: the MONAILabel breakage)
    ("segmentationNode.CreateDefaultDisplayNodes()", "segmentationNode.SetSourceVolumeNode(volumeNode)",
     ".SetSourceVolumeNode is only in Slicer v5.12.3, HEAD"),
    # a slicer.util function that does not exist / exists only in newer Slicer
    ("slicer.util.arrayFromVolume(", "slicer.util.arrayFromVolumes(", "slicer.util.arrayFromVolumes does not"),
    ("slicer.util.confirmOkCancelDisplay(", "slicer.util.executePythonModule(", "does not exist in Slicer v5.8.1"),
    # a widget that is not in the .ui
    ("self.ui.statusLabel.text", "self.ui.statusLbl.text", "self.ui.statusLbl is not a widget"),
    # a node class that does not exist
    ('"vtkMRMLMarkupsFiducialNode", name)', '"vtkMRMLMarkupsPointNode", name)', "vtkMRMLMarkupsPointNode"),
    ("slicer.vtkMRMLTransformNode.", "slicer.vtkMRMLTransformsNode.", "class vtkMRMLTransformsNode"),
    # a misspelt Slicer Qt method (lowerCamel names are checked too)
    ("layoutManager.sliceViewNames()", "layoutManager.sliceViewNamez()", ".sliceViewNamez is neither"),
    ("editor.saveStateForUndo()", "editor.saveStateForUndos()", ".saveStateForUndos is neither"),
    # an import that does not exist
    ("from slicer.parameterNodeWrapper import Choice,", "from slicer.parameterNodeWrapper import Choices,",
     "slicer.parameterNodeWrapper.Choices"),
])
def test_checker_flags_injected_wrong_names(old, new, expected):
    problems = check_module_source(_inject(old, new), UI.read_text(encoding="utf-8"))
    assert any(expected in p for p in problems), problems


def test_checker_flags_ui_parameter_and_property_mistakes():
    ui = UI.read_text(encoding="utf-8")
    bad_parameter = ui.replace("<string>lam</string>", "<string>lambda_</string>")
    assert any("'lambda_' is not a field" in p for p in check_module_source(MODULE.read_text(encoding="utf-8"), bad_parameter))
    bad_property = ui.replace('<property name="noneEnabled">', '<property name="noneAllowed">')
    assert any("'noneAllowed'" in p for p in check_module_source(MODULE.read_text(encoding="utf-8"), bad_property))


def test_python_3_10_syntax_and_undefined_names_are_caught(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("def f(x: int | None):\n    match x:\n        case 1:\n            return x\n")
    with pytest.raises(SyntaxError):
        ast.parse(newer.read_text(encoding="utf-8"), feature_version=(3, 9))
    result = _vermin(newer)
    assert result.returncode != 0 and "3.10" in result.stdout, result.stdout + result.stderr
    undefined = tmp_path / "undefined.py"
    undefined.write_text("def f():\n    return _t('not defined')\n")
    result = _ruff_undefined_names(undefined)
    assert result.returncode != 0 and "F821" in result.stdout, result.stdout + result.stderr


# --- the glue keeps the fixes of issue 14 (the decisions themselves: test_interaction.py) ---------------

def _widget_methods():
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    widget = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Widget"))
    return {n.name: n for n in widget.body if isinstance(n, ast.FunctionDef)}


def _names_in(function):
    return {n.attr for n in ast.walk(function) if isinstance(n, ast.Attribute)} | \
        {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}


def test_every_action_handler_checks_the_one_busy_flag():
    """Item 4: Reset, Next segment, Undo, a new 2D slice, modifier-clicks, updates and the timer ask the flag."""
    methods = _widget_methods()
    handlers = [name for name in methods if name.endswith("Button") and name.startswith("on")] + \
        ["runUpdate", "_startNewSlice", "_onSliceViewPress", "_onUpdateTimer", "_ensureTorch"]
    assert {"onResetButton", "onNextSegmentButton", "onUndoButton"} <= set(handlers)
    unchecked = [name for name in handlers
                 if not ({"_refuseWhileBusy", "busyFlag"} & _names_in(methods[name])) and
                 "runUpdate" not in _names_in(methods[name])]
    assert unchecked == []


def test_glue_compares_nodes_as_objects_and_uses_the_events_index():
    """Items 1 and 12, 13: no node compared by ID; the point event handler takes its int call data; the
    deprecated GetNthControlPointIndexByID is gone."""
    source = MODULE.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
            assert not any(c.func.attr == "GetID" for c in calls), f"line {node.lineno} compares node IDs"
    defined = _widget_methods()["_onPointDefined"]
    assert [ast.unparse(d) for d in defined.decorator_list] == ["vtk.calldata_type(vtk.VTK_INT)"]
    assert "event_point_index" in _names_in(defined)
    assert "GetNthControlPointIndexByID" not in source


def test_cleanup_and_exit_undo_what_setup_and_enter_did():
    """Items 11 and 13: cleanup stops the timer, disconnects every Qt connection and the parameter node,
    removes observers; exit and cleanup leave place mode; Reload drops MIDeepSegLib from sys.modules."""
    methods = _widget_methods()
    cleanup = _names_in(methods["cleanup"])
    assert {"stop", "disconnect", "_connections", "setParameterNode", "removeObservers", "_removeShortcuts",
            "_removeSliceViewObservers", "_leavePlaceMode"} <= cleanup
    assert "_leavePlaceMode" in _names_in(methods["exit"])
    setup = ast.unparse(methods["setup"])
    assert setup.count(".connect(") == setup.count("self._connections.append(")  # every connection recorded
    assert "sys.modules" in ast.unparse(methods["onReload"])
