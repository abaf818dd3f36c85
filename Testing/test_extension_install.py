"""The Slicer extension installs everything the module needs: proven by running the real CMake files.

The repository keeps MIDeepSegLib/ and Resources/ at its top level (DESIGN.md)
while Slicer's ``slicerMacroBuildScriptedModule`` only copies paths below the
module folder, so MIDeepSeg/CMakeLists.txt copies them itself. These tests
configure the real CMake files with CMake, against a stand-in of Slicer's build
macros that maps files exactly as Slicer/CTK do (``ctkMacroCompilePythonScript``:
a relative script or resource ``f`` goes to ``<scripted modules dir>/f``, an
absolute script ``p`` to ``<scripted modules dir>/<p relative to the module's
build folder>``; the whole scripted modules dir is installed). The glob
semantics are CMake's own. Then they check that every ``.py`` of MIDeepSegLib's
runtime and every resource the module references lands in the installed tree,
that the research tooling (``training/``, ``evaluation/``) does not, that the
installed tree imports and runs a Segmenter session on its own, and that the
Extensions Index entry agrees with the CMake metadata. Negative tests show the
check fails when a file would be left out or the tooling would be installed.
"""

import ast
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "MIDeepSeg" / "MIDeepSeg.py"
SCRIPTED_DIR = "lib/Slicer-5.8/qt-scripted-modules"
#: Subpackages of MIDeepSegLib that are research tooling: never imported by Slicer, not installed.
TOOLING = ("MIDeepSegLib/training/", "MIDeepSegLib/evaluation/")

# Stand-in for Slicer's CMake package: the variables and macros the extension uses.
SLICER_CONFIG = r"""
set(Slicer_USE_FILE "${CMAKE_CURRENT_LIST_DIR}/UseSlicer.cmake")
set(Slicer_EXTENSION_GENERATE_CONFIG "${CMAKE_CURRENT_LIST_DIR}/GenerateConfig.cmake")
set(Slicer_EXTENSION_CPACK "${CMAKE_CURRENT_LIST_DIR}/CPack.cmake")
set(Slicer_QTSCRIPTEDMODULES_LIB_DIR "@SCRIPTED_DIR@")
set(Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR "@SCRIPTED_DIR@")
set(BUILD_TESTING ON)
set(MANIFEST "${CMAKE_BINARY_DIR}/manifest.txt")
file(WRITE "${MANIFEST}" "")

macro(slicerMacroBuildScriptedModule)
  cmake_parse_arguments(MY_SLICER "WITH_GENERIC_TESTS;WITH_SUBDIR;VERBOSE" "NAME" "SCRIPTS;RESOURCES" ${ARGN})
  if(MY_SLICER_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "Unknown keywords: ${MY_SLICER_UNPARSED_ARGUMENTS}")
  endif()
  set(_dest "${CMAKE_BINARY_DIR}/${Slicer_QTSCRIPTEDMODULES_LIB_DIR}")
  foreach(_file ${MY_SLICER_SCRIPTS})
    get_filename_component(_ext "${_file}" EXT)
    if(NOT "${_ext}" MATCHES "py")
      set(_file "${_file}.py")
    endif()
    if(IS_ABSOLUTE "${_file}")
      set(_src "${_file}")
      file(RELATIVE_PATH _tgt "${CMAKE_CURRENT_BINARY_DIR}" "${_file}")
    else()
      set(_src "${CMAKE_CURRENT_SOURCE_DIR}/${_file}")
      set(_tgt "${_file}")
    endif()
    if(NOT EXISTS "${_src}")
      message(FATAL_ERROR "slicerMacroBuildScriptedModule(SCRIPTS) given nonexistent file '${_file}'")
    endif()
    file(APPEND "${MANIFEST}" "script|${_src}|${_dest}/${_tgt}\n")
  endforeach()
  foreach(_file ${MY_SLICER_RESOURCES})
    if(NOT EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${_file}")
      message(FATAL_ERROR "slicerMacroBuildScriptedModule(RESOURCES) given nonexistent file '${_file}'")
    endif()
    file(APPEND "${MANIFEST}" "resource|${CMAKE_CURRENT_SOURCE_DIR}/${_file}|${_dest}/${_file}\n")
  endforeach()
  file(APPEND "${MANIFEST}" "module|${MY_SLICER_NAME}|\n")
endmacro()

function(slicer_add_python_unittest)
  cmake_parse_arguments(MY "" "SCRIPT;TESTNAME_PREFIX" "SLICER_ARGS" ${ARGN})
  file(APPEND "${MANIFEST}" "unittest|${MY_SCRIPT}|\n")
endfunction()
"""
GENERATE_CONFIG = r"""
foreach(_var HOMEPAGE CATEGORY CONTRIBUTORS DESCRIPTION ICONURL SCREENSHOTURLS DEPENDS)
  file(APPEND "${MANIFEST}" "metadata|${_var}|${EXTENSION_${_var}}\n")
endforeach()
file(APPEND "${MANIFEST}" "project|${PROJECT_NAME}|\n")
"""


def _cmake():
    cmake = shutil.which("cmake")
    if cmake is None:
        if os.environ.get("CI"):
            pytest.fail("cmake is needed to check the extension's install rules and is missing in CI")
        pytest.skip("cmake is not installed")
    return cmake


def _model_files():
    """MODEL_FILES of the module (parsed, not imported: the module needs Slicer)."""
    for node in ast.walk(ast.parse(MODULE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "MODEL_FILES" for t in node.targets):
            return list(ast.literal_eval(node.value).values())
    raise AssertionError("MODEL_FILES not found in MIDeepSeg.py")


def referenced_resources(source):
    """Resources/<path> the module loads: resourcePath("...") arguments and the model files."""
    paths = {"Models/" + name for name in _model_files()}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == \
                "resourcePath" and node.args and isinstance(node.args[0], ast.Constant):
            paths.add(node.args[0].value)
    return sorted("Resources/" + p for p in paths)


def make_tree(dest, extra=None):
    """A copy of the extension's source files (model weights linked, missing ones stubbed)."""
    for rel in ["CMakeLists.txt", "MIDeepSeg/CMakeLists.txt", "MIDeepSeg/MIDeepSeg.py"]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest / rel)
    for path in (ROOT / "MIDeepSegLib").rglob("*.py"):
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for folder in ("UI", "Icons", "Models"):
        (dest / "Resources" / folder).mkdir(parents=True, exist_ok=True)
        for path in (ROOT / "Resources" / folder).glob("*"):
            if path.is_file():
                os.symlink(path, dest / path.relative_to(ROOT))
    for name in _model_files():   # until the training pipeline ships them
        weights = dest / "Resources" / "Models" / name
        if not weights.exists():
            weights.write_bytes(b"stand-in weights")
    for rel, content in (extra or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(content)
    return dest


def configure(tree, tmp_path):
    """Configure `tree` with CMake and the Slicer stand-in; return (installed {rel: source}, manifest rows)."""
    cmake = _cmake()
    slicer_dir, build = tmp_path / "slicer-stub", tmp_path / "build"
    slicer_dir.mkdir()
    (slicer_dir / "SlicerConfig.cmake").write_text(SLICER_CONFIG.replace("@SCRIPTED_DIR@", SCRIPTED_DIR))
    (slicer_dir / "UseSlicer.cmake").write_text("")
    (slicer_dir / "GenerateConfig.cmake").write_text(GENERATE_CONFIG)
    (slicer_dir / "CPack.cmake").write_text("")
    top = (tree / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "project(MIDeepSeg)" in top
    # NONE: no compiler checks in the test (the extension itself keeps Slicer's usual languages)
    (tree / "CMakeLists.txt").write_text(top.replace("project(MIDeepSeg)", "project(MIDeepSeg NONE)"))
    result = subprocess.run([cmake, "-S", str(tree), "-B", str(build), f"-DSlicer_DIR={slicer_dir}"],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split("|") for line in (build / "manifest.txt").read_text(encoding="utf-8").splitlines()]
    dest = build / SCRIPTED_DIR
    installed = {}
    for path in dest.rglob("*"):   # copied at configure time; the whole folder is installed
        if path.is_file():
            installed[path.relative_to(dest).as_posix()] = path
    for kind, source, target in rows:   # copied at build time by the macro
        if kind in ("script", "resource"):
            installed[Path(target).relative_to(dest).as_posix()] = Path(source)
    return installed, rows


def missing_installs(tree, installed):
    """What the installed extension would lack (runtime files, the module, its resources) or wrongly hold."""
    problems = []
    for path in sorted((tree / "MIDeepSegLib").rglob("*.py")):
        rel = path.relative_to(tree).as_posix()
        if rel.startswith(TOOLING):
            if rel in installed:
                problems.append(f"{rel} is research tooling but is installed")
        elif rel not in installed:
            problems.append(f"{rel} is not installed")
        elif Path(installed[rel]).read_bytes() != path.read_bytes():
            problems.append(f"{rel} is installed from a different file")
    if "MIDeepSeg.py" not in installed:
        problems.append("MIDeepSeg.py is not installed")
    for rel in referenced_resources((tree / "MIDeepSeg" / "MIDeepSeg.py").read_text(encoding="utf-8")):
        if rel not in installed:
            problems.append(f"{rel} (loaded by the module) is not installed")
    return problems


# --- the real CMake files ---------------------------------------------------------------------------

def test_everything_the_module_needs_is_installed(tmp_path):
    tree = make_tree(tmp_path / "src")
    installed, rows = configure(tree, tmp_path)
    assert missing_installs(tree, installed) == []
    assert {"MIDeepSegLib/__init__.py", "MIDeepSegLib/geometry.py", "MIDeepSegLib/core/graphcut.py",
            "MIDeepSegLib/model/checkpoint.py", "Resources/UI/MIDeepSeg.ui",
            "Resources/Icons/MIDeepSeg.png", "Resources/Models/mideepseg_3d.pt"} <= set(installed)
    assert not [rel for rel in installed if rel.startswith(TOOLING)]
    assert ["unittest", "MIDeepSeg.py", ""] in rows
    assert ["module", "MIDeepSeg", ""] in rows
    metadata = {row[1]: row[2] for row in rows if row[0] == "metadata"}
    assert all(metadata.values()), metadata
    assert metadata["CATEGORY"] == "Segmentation"


def install(installed, prefix):
    """Copy the installed files to `prefix`, as CMake's install step would."""
    for rel, source in installed.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, prefix / rel)
    return prefix


def test_installed_tree_imports_and_finds_its_resources(tmp_path):
    """The installed layout (Resources and MIDeepSegLib next to MIDeepSeg.py) and the source layout both work."""
    installed, _rows = configure(make_tree(tmp_path / "src"), tmp_path)
    prefix = install(installed, tmp_path / "install")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import MIDeepSegLib, MIDeepSegLib.geometry; "
            "print(MIDeepSegLib.__file__)")
    result = subprocess.run([sys.executable, "-c", code, str(prefix)], check=False, capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == (prefix / "MIDeepSegLib" / "__init__.py").resolve()

    # the module's own path helpers, run as written (they only need os and sys)
    source = MODULE.read_text(encoding="utf-8")
    helpers = [n for n in ast.parse(source).body
               if isinstance(n, ast.FunctionDef) and n.name in ("_addLibraryToPath", "resourcePath")]
    assert len(helpers) == 2
    code = "\n".join(ast.get_source_segment(source, n) for n in helpers)
    for module_dir, resources in ((prefix, prefix / "Resources"), (ROOT / "MIDeepSeg", ROOT / "Resources")):
        namespace = {"os": os, "sys": type(sys)("fake_sys"), "_MODULE_DIR": str(module_dir)}
        namespace["sys"].path = []
        exec(code, namespace)  # noqa: S102  (the module's own two path helpers, read from its source)
        assert Path(namespace["resourcePath"]("UI/MIDeepSeg.ui")) == resources / "UI" / "MIDeepSeg.ui"
        namespace["_addLibraryToPath"]()
        assert namespace["sys"].path == [str(resources.parent)]


#: Run in a fresh interpreter on the installed tree alone: a 2D session with the shipped 2D weights.
SESSION = """
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
# a pip editable install of the source tree (its import hook) must not fill in what the install lacks
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import numpy as np
import MIDeepSegLib
from MIDeepSegLib import Segmenter
from MIDeepSegLib.session import ClickSession  # the Slicer module's bookkeeping imports too
assert MIDeepSegLib.__file__.startswith(sys.argv[1]), MIDeepSegLib.__file__
for tooling in ("MIDeepSegLib.training", "MIDeepSegLib.evaluation"):
    assert importlib.util.find_spec(tooling) is None, tooling + " is importable"
yy, xx = np.mgrid[:96, :96]
disc = (yy - 48.0) ** 2 + (xx - 50.0) ** 2 <= 20.0 ** 2
rng = np.random.default_rng(0)
image = np.where(disc, 180.0, 60.0) + rng.normal(0.0, 8.0, disc.shape)
seg = Segmenter(image.astype(np.float32), (0.8, 0.8), model="2d", device="cpu")
points = [[31, 50], [65, 50], [48, 33], [48, 67]]
first = seg.initial(points)
second = seg.refine(background=[[10, 10]])
back = seg.undo()
dice = 2.0 * np.logical_and(first.mask, disc).sum() / (first.mask.sum() + disc.sum())
assert back is first and second.mask.shape == disc.shape
loaded = sorted(m for m in sys.modules if m.startswith(("MIDeepSegLib.training", "MIDeepSegLib.evaluation")))
print("dice {:.3f} tooling {}".format(dice, loaded))
"""


def test_installed_runtime_runs_a_session_without_the_tooling(tmp_path):
    """The installed set alone (no training/, no evaluation/, no source tree on the path) runs a Segmenter."""
    pytest.importorskip("torch")
    installed, _rows = configure(make_tree(tmp_path / "src"), tmp_path)
    if (tmp_path / "src" / "Resources" / "Models" / "mideepseg_2d.pt").read_bytes() == b"stand-in weights":
        pytest.skip("no shipped 2D weights in this checkout")
    prefix = install(installed, tmp_path / "install")
    assert not (prefix / "MIDeepSegLib" / "training").exists()
    assert not (prefix / "MIDeepSegLib" / "evaluation").exists()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", SESSION, str(prefix)], check=False, capture_output=True,
                            text=True, cwd=tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    dice = float(result.stdout.split()[1])
    assert dice > 0.8, result.stdout
    assert result.stdout.strip().endswith("tooling []"), result.stdout


def test_new_library_files_are_installed_without_touching_cmake(tmp_path):
    tree = make_tree(tmp_path / "src", {"MIDeepSegLib/newstage.py": "X = 1\n",
                                        "MIDeepSegLib/backends/__init__.py": ""})
    installed, _rows = configure(tree, tmp_path)
    assert missing_installs(tree, installed) == []
    assert {"MIDeepSegLib/newstage.py", "MIDeepSegLib/backends/__init__.py"} <= set(installed)


# --- the check must be able to fail --------------------------------------------------------------------

def test_check_fails_for_a_file_the_cmake_would_not_install(tmp_path):
    """A non-recursive glob misses a subpackage: reported."""
    tree = make_tree(tmp_path / "src", {"MIDeepSegLib/backends/maxflow.py": "X = 1\n"})
    cmake_file = tree / "MIDeepSeg" / "CMakeLists.txt"
    text = cmake_file.read_text(encoding="utf-8")
    assert "file(GLOB_RECURSE MIDEEPSEG_LIB_FILES" in text
    cmake_file.write_text(text.replace("file(GLOB_RECURSE MIDEEPSEG_LIB_FILES", "file(GLOB MIDEEPSEG_LIB_FILES"))
    installed, _rows = configure(tree, tmp_path)
    runtime_in_subpackages = [f"{path.relative_to(tree).as_posix()} is not installed"
                              for path in sorted((tree / "MIDeepSegLib").rglob("*.py"))
                              if path.parent != tree / "MIDeepSegLib"
                              and not path.relative_to(tree).as_posix().startswith(TOOLING)]
    assert "MIDeepSegLib/backends/maxflow.py is not installed" in runtime_in_subpackages
    assert "MIDeepSegLib/core/graphcut.py is not installed" in runtime_in_subpackages
    assert missing_installs(tree, installed) == runtime_in_subpackages


def test_check_fails_when_the_tooling_would_be_installed(tmp_path):
    """Without the filter, training/ and evaluation/ would ship into Slicer: reported."""
    tree = make_tree(tmp_path / "src")
    cmake_file = tree / "MIDeepSeg" / "CMakeLists.txt"
    text = cmake_file.read_text(encoding="utf-8")
    line = 'list(FILTER MIDEEPSEG_LIB_FILES EXCLUDE REGEX "^MIDeepSegLib/(training|evaluation)/")\n'
    assert line in text
    cmake_file.write_text(text.replace(line, ""))
    installed, _rows = configure(tree, tmp_path)
    found = missing_installs(tree, installed)
    assert "MIDeepSegLib/training/loop.py is research tooling but is installed" in found
    assert "MIDeepSegLib/evaluation/benchmark.py is research tooling but is installed" in found
    assert all(line.endswith("is research tooling but is installed") for line in found)


def test_check_fails_for_a_resource_left_out(tmp_path):
    tree = make_tree(tmp_path / "src")
    cmake_file = tree / "MIDeepSeg" / "CMakeLists.txt"
    text = cmake_file.read_text(encoding="utf-8")
    assert "  Resources/UI/${MODULE_NAME}.ui\n" in text
    cmake_file.write_text(text.replace("  Resources/UI/${MODULE_NAME}.ui\n", ""))
    installed, _rows = configure(tree, tmp_path)
    assert missing_installs(tree, installed) == ["Resources/UI/MIDeepSeg.ui (loaded by the module) is not installed"]


# --- Extensions Index entry and metadata ---------------------------------------------------------------

def _cmake_set(text, name):
    """The quoted value of ``set(NAME "value")`` on one line (the form the Extensions Index parses)."""
    match = re.search(rf'^set\({name} "([^"]*)"\)', text, flags=re.MULTILINE)
    assert match, f'{name} is not set as set({name} "...") on one line'
    return match.group(1)


def test_extensions_index_entry_matches_the_cmake_metadata():
    raw = (ROOT / "MIDeepSeg.json").read_bytes()
    assert b"\r" not in raw, "the Extensions Index wants LF line endings"
    entry = json.loads(raw)
    schema_keys = {"$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
                   "build_subdirectory", "enabled", "tier"}   # schema v1.0.1 (additionalProperties: false)
    assert set(entry) <= schema_keys and {"$schema", "category", "scm_url"} <= set(entry)
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.1.json#")
    assert entry["category"] == "Segmentation"
    assert isinstance(entry["tier"], int) and 1 <= entry["tier"] <= 5

    top = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "project(MIDeepSeg)" in top and not "MIDeepSeg".lower().startswith("slicer")
    depends = _cmake_set(top, "EXTENSION_DEPENDS")
    assert entry["build_dependencies"] == ([] if depends == "NA" else depends.split())
    homepage = _cmake_set(top, "EXTENSION_HOMEPAGE")
    assert entry["scm_url"].removesuffix(".git") == homepage
    assert homepage.rsplit("/", 1)[1] == "Slicer" + "MIDeepSeg"   # repository named Slicer<Extension>
    for name in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_HOMEPAGE"):
        assert all(url.startswith("https://") for url in _cmake_set(top, name).split())
    raw_prefix = homepage.replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"
    for url in _cmake_set(top, "EXTENSION_SCREENSHOTURLS").split():  # each screenshot is a PNG in the repository
        assert url.startswith(raw_prefix), url
        assert (ROOT / url[len(raw_prefix):]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url
    icon_url = _cmake_set(top, "EXTENSION_ICONURL")
    assert icon_url.startswith(raw_prefix)
    icon = ROOT / icon_url[len(raw_prefix):]
    header = icon.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (128, 128)
