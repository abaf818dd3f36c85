"""The static API check, run against the names slicer-core really exposes.

Testing/test_slicer_module_static.py checks the module's names against an
inventory extracted from Slicer's sources (v5.8.1 ... main). Here the same
names are looked up in the installed slicer-core (Slicer 5.13): every
``slicer.util`` function, every ``slicer.vtk…`` class and node class name, and
every UpperCamel MRML method/event/constant the module uses must exist on a
slicer-core class, except the few names that belong to Slicer's Qt widgets
(listed below with their reason). A name the inventory has but slicer-core
lacks is an API difference between 5.13 and the versions the module supports:
it is reported by name.
"""

import ast
from pathlib import Path

import pytest
import slicercore_required

slicercore_required.require()

import slicer  # noqa: E402
import vtk  # noqa: E402

import test_slicer_module_static as static  # noqa: E402

MODULE = Path(__file__).resolve().parents[2] / "MIDeepSeg" / "MIDeepSeg.py"

#: Names the module uses that are Qt-side (the widget), so slicer-core cannot have them.
QT_SIDE = {
    "ForcePlaceMultipleMarkups": "enum of qSlicerMarkupsPlaceWidget (Qt widget)",
    "PyTorchUtilsLogic": "the PyTorch extension's scripted logic",
}
#: Application-side Python packages the module imports; slicer-core has none of them, and the
#: test environment provides them (slicercore_app); each imported name must be one it provides.
APPLICATION_PYTHON = ("slicer.ScriptedLoadableModule", "slicer.i18n", "slicer.parameterNodeWrapper")


def _slicerCoreNames():
    """Every attribute name of every slicer-core class (methods, events, enum values)."""
    names = set()
    for className in dir(slicer):
        if className.startswith("vtk"):
            names.update(dir(getattr(slicer, className)))
    return names


def usedNames(source):
    """{'util': ..., 'classes': ..., 'attributes': ..., 'imports': {module: names}} of the module's source."""
    tree = ast.parse(source)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    defined |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    used = {"util": set(), "classes": set(), "attributes": set(), "imports": {}}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slicer"):
            for alias in node.names:
                if node.module == "slicer":
                    used["classes"].add(alias.name)
                else:
                    used["imports"].setdefault(node.module, set()).add(alias.name)
        elif isinstance(node, ast.Attribute):
            dotted = static._dotted(node)
            if dotted and dotted.startswith("slicer.util.") and dotted.count(".") == 2:
                used["util"].add(node.attr)
            elif dotted and dotted.count(".") == 1 and dotted.startswith("slicer.vtk"):
                used["classes"].add(node.attr)
            elif static.UPPER_CAMEL.match(node.attr) and node.attr not in defined and \
                    static._root(node) not in static.FOREIGN_ROOTS:
                used["attributes"].add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in static.NODE_CLASS_METHODS and node.args and isinstance(node.args[0], ast.Constant):
            used["classes"].add(node.args[0].value)
    return used


def problemsOnSlicerCore(source):
    used = usedNames(source)
    coreNames = _slicerCoreNames()
    problems = []
    for name in sorted(used["util"]):
        if not hasattr(slicer.util, name):
            problems.append(f"slicer.util.{name} is not in slicer-core's slicer/util.py")
    for name in sorted(used["classes"]):
        if not (hasattr(slicer, name) or hasattr(vtk, name)):
            problems.append(f"class {name} is not in slicer-core")
    for name in sorted(used["attributes"] - set(QT_SIDE)):
        if name not in coreNames and not hasattr(vtk, name) and not _isVTKName(name):
            problems.append(f".{name} is on no slicer-core class")
    for moduleName, names in sorted(used["imports"].items()):
        if moduleName != "slicer.util" and moduleName not in APPLICATION_PYTHON:
            problems.append(f"import from {moduleName}: neither slicer-core nor the application stand-ins")
    return problems


def _isVTKName(name):
    """A VTK event (vtkCommand) or a name of the inventory's VTK list (vtkObject, vtkMatrix4x4 ...)."""
    return hasattr(vtk.vtkCommand, name) or name in static.inventory()["vtk"]


def test_the_module_uses_only_names_slicer_core_has():
    assert problemsOnSlicerCore(MODULE.read_text(encoding="utf-8")) == []


def test_the_application_stand_ins_provide_every_name_the_module_imports(slicer_app):
    used = usedNames(MODULE.read_text(encoding="utf-8"))
    import importlib

    for moduleName in APPLICATION_PYTHON:
        module = importlib.import_module(moduleName)
        missing = [n for n in sorted(used["imports"].get(moduleName, ())) if not hasattr(module, n)]
        assert missing == [], f"{moduleName}: {missing}"


def test_qt_side_names_are_really_absent_from_slicer_core():
    """The exceptions above must stay true: a Qt-side name that slicer-core has is no exception."""
    coreNames = _slicerCoreNames()
    assert sorted(set(QT_SIDE) & coreNames) == []


@pytest.mark.parametrize("old,new,expected", [
    ("GetNthControlPointPositionWorld(", "GetNthControlPointPositionWorlds(", ".GetNthControlPointPositionWorlds"),
    ("slicer.util.arrayFromVolume(", "slicer.util.arrayFromVolumes(", "slicer.util.arrayFromVolumes"),
    ('"vtkMRMLMarkupsFiducialNode"', '"vtkMRMLMarkupsPointNode"', "class vtkMRMLMarkupsPointNode"),
])
def test_the_check_flags_wrong_names(old, new, expected):
    source = MODULE.read_text(encoding="utf-8")
    assert old in source, f"{old!r} no longer appears in the module: update this test"
    assert any(expected in p for p in problemsOnSlicerCore(source.replace(old, new, 1)))
