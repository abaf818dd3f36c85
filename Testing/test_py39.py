"""MIDeepSegLib must run on Python 3.9 (Slicer 5.x ships 3.9) and its doctest Examples must hold.

Two independent checks of the syntax / standard-library level: the parser's
3.9 grammar (``ast.parse(feature_version=(3, 9))``) and vermin's minimum
version analysis (syntax, stdlib modules, functions and keyword arguments).
"""

import ast
import doctest
import importlib
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "MIDeepSegLib"
SOURCES = sorted(PACKAGE.rglob("*.py"))

# vermin has no __main__ module, so `python -m vermin` does not work; call its entry point.
_VERMIN = [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())"]


def test_package_found():
    assert len(SOURCES) >= 10
    assert (PACKAGE / "core" / "geodesic.py") in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_parses_with_python39_grammar(path):
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 9))


def test_python39_grammar_check_can_fail():
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 9))


def _vermin(*args):
    pytest.importorskip("vermin")
    return subprocess.run(_VERMIN + ["-t=3.9-", "--no-tips", "--violations", *args],
                          check=False, capture_output=True, text=True, timeout=120)


def test_vermin_python39():
    result = _vermin(str(PACKAGE))
    assert result.returncode == 0, "vermin found code that needs Python > 3.9:\n" + result.stdout + result.stderr


def test_vermin_check_can_fail(tmp_path):
    """A 3.10-only call (zip(strict=...)) makes vermin exit non-zero, so the check above is live."""
    bad = tmp_path / "new.py"
    bad.write_text("pairs = list(zip([1], [2], strict=True))\n")
    result = _vermin(str(bad))
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize("module", ["core.geodesic", "core.fusion"])
def test_doctest_examples(module):
    mod = importlib.import_module("MIDeepSegLib." + module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"no Examples found in MIDeepSegLib.{module}"
    assert result.failed == 0


def _modules_with_examples():
    names = []
    for path in SOURCES:
        if ">>>" in path.read_text(encoding="utf-8") and path.stem not in ("geodesic", "fusion", "__init__"):
            names.append(path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."))
    return names


@pytest.mark.parametrize("name", _modules_with_examples())
def test_doctest_other_modules(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_no_undefined_names_or_syntax_errors_anywhere():
    """ruff's pyflakes rules (undefined names, unused imports, ...) over every Python file of the repository."""
    pytest.importorskip("ruff")
    root = PACKAGE.parent
    targets = [str(root / d) for d in ("MIDeepSegLib", "MIDeepSeg", "Testing", "benchmarks")]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E9,F",
                             "--output-format", "concise", *targets], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
