"""MIDeepSegLib's import graph: no cycles, and no function-local import that is not a deliberate deferral.

The graph is read with ``ast`` (nothing is imported): an edge for every
``import`` of a MIDeepSegLib module, at module level or inside a function, so
a cycle cannot hide behind a function-local import. A function-local import is
allowed only where it defers a heavy dependency on purpose, and says so with a
``# deferred: <reason>`` comment on its line; inside ``try: ... except
ImportError`` it is an optional dependency and needs no comment. A deferred
import of a MIDeepSegLib module must really defer something: the module it
imports pulls in a heavy package (torch, SimpleITK, ...) that the importing
module does not already load at its top level. The runtime (the top level,
``core/`` and ``model/``, what Slicer installs) never imports ``training/`` or
``evaluation/`` at module level, and no module imports another's private
(``_underscore``) names.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "MIDeepSegLib"

#: Packages worth deferring: large to import, or optional.
HEAVY = {"torch", "SimpleITK", "skimage", "matplotlib", "itk", "GeodisTK", "maxflow", "threadpoolctl"}
#: Subpackages that are research tooling, not installed into Slicer.
TOOLING = ("training", "evaluation")


def _modules(root):
    """{dotted name: path} of every module of the package below `root`."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _targets(node, name, path, modules):
    """Dotted names an import statement of module `name` refers to (modules of the package or outside)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    # `from .x import y`: y may be a submodule (an edge to it) or a name of x (an edge to x)
    return [base + "." + alias.name if base + "." + alias.name in modules else base for alias in node.names]


def _in_optional_try(node, parents):
    """True if `node` sits in the body of a ``try`` that catches ImportError."""
    child = node
    parent = parents.get(child)
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
                if any(getattr(n, "id", None) in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def import_graph(root):
    """Read the package under `root`: (modules, top-level edges, all edges, local imports, private names).

    local imports: list of (module, line, targets, comment, optional) for every import inside a function;
    private names: list of (module, line, name, source module) for ``from .x import _name``.
    """
    modules = _modules(root)
    top, every, local, private = {}, {}, [], []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        parents = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        top[name], every[name] = set(), set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            targets = _targets(node, name, path, modules)
            if isinstance(node, ast.ImportFrom):
                for alias, target in zip(node.names, targets):
                    if alias.name.startswith("_") and not alias.name.endswith("__") and target in modules \
                            and target != name:
                        private.append((name, node.lineno, alias.name, target))
            inside = node
            while inside in parents and not isinstance(inside, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside = parents[inside]
            in_function = isinstance(inside, (ast.FunctionDef, ast.AsyncFunctionDef))
            for target in targets:
                every[name].add(target)
                if not in_function:
                    top[name].add(target)
            if in_function:
                text = " ".join(lines[node.lineno - 1: node.end_lineno])
                comment = text.split("#", 1)[1].strip() if "#" in text else ""
                local.append((name, node.lineno, targets, comment, _in_optional_try(node, parents)))
    return modules, top, every, local, private


def cycles(modules, edges):
    """Groups of package modules that import each other (strongly connected, more than one module)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(t for t in edges.get(v, ()) if t in modules and t != v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return groups


def heavy_loaded(modules, top):
    """{module: the HEAVY packages importing it loads}, following top-level imports only."""
    memo = {}

    def load(module, seen):
        if module in memo:
            return memo[module]
        found = set()
        for target in top.get(module, ()):
            if target.split(".")[0] in HEAVY:
                found.add(target.split(".")[0])
            elif target in modules and target not in seen:
                found |= load(target, seen | {target})
        memo[module] = found
        return found

    return {module: load(module, {module}) for module in modules}


def problems(root):
    """Every rule the package under `root` breaks, one line each."""
    modules, top, every, local, private = import_graph(root)
    found = ["import cycle: " + " <-> ".join(group) for group in cycles(modules, every)]
    for module, line, alias, target in private:
        found.append("{}:{}: imports the private name {} of {}".format(
            modules[module].relative_to(root).as_posix(), line, alias, target))
    heavy = heavy_loaded(modules, top)
    for module, line, targets, comment, optional in local:
        where = "{}:{}".format(modules[module].relative_to(root).as_posix(), line)
        if optional:
            continue
        if not comment.startswith("deferred:") or len(comment) <= len("deferred:") + 3:
            found.append("{}: function-local import of {} without a '# deferred: <reason>' comment".format(
                where, ", ".join(targets)))
            continue
        for target in targets:
            if target.split(".")[0] == PACKAGE:
                gained = heavy.get(target, set()) - heavy[module]
                if not gained:
                    found.append("{}: deferring {} defers nothing heavy ({} already loads {}): import it at "
                                 "the top".format(where, target, module, sorted(heavy[module]) or "nothing"))
            elif target.split(".")[0] not in HEAVY:
                found.append("{}: {} is not a heavy dependency: import it at the top".format(where, target))
    for module in sorted(modules):
        if any(module.startswith("{}.{}".format(PACKAGE, part)) for part in TOOLING):
            continue
        for target in sorted(top[module]):
            if any(target.startswith("{}.{}".format(PACKAGE, part)) for part in TOOLING):
                found.append("{} (runtime) imports the research tooling {} at module level".format(module, target))
    return found


def test_package_import_graph_is_clean():
    assert problems(ROOT) == []


def test_import_graph_reads_the_real_package():
    modules, top, every, local, _private = import_graph(ROOT)
    assert {"MIDeepSegLib.segmenter", "MIDeepSegLib.core.geodesic", "MIDeepSegLib.evaluation.benchmark"} <= \
        set(modules)
    assert "MIDeepSegLib.core.refinement" in top["MIDeepSegLib.segmenter"]
    assert "torch" in heavy_loaded(modules, top)["MIDeepSegLib.model.checkpoint"]
    assert any(m == "MIDeepSegLib.cli" for m, *_ in local)  # the CLI defers its commands' imports


# --- the checks must be able to fail -----------------------------------------------------------------


def _tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_hidden_by_a_local_import_is_reported(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "training/__init__.py": "",
        "training/a.py": "from .b import B\nA = 1\n",
        "training/b.py": "def f():\n    from .a import A  # deferred: would be a cycle\n    return A\nB = 2\n",
    })
    found = problems(root)
    assert "import cycle: MIDeepSegLib.training.a <-> MIDeepSegLib.training.b" in found
    assert any("defers nothing heavy" in line for line in found)


@pytest.mark.parametrize("body, message", [
    ("def f():\n    import json\n", "without a '# deferred: <reason>' comment"),
    ("def f():\n    import json  # deferred: speed\n", "json is not a heavy dependency"),
    ("def f():\n    from .light import X  # deferred: speed\n", "defers nothing heavy"),
])
def test_local_imports_without_a_reason_are_reported(tmp_path, body, message):
    root = _tree(tmp_path, {"__init__.py": "", "light.py": "X = 1\n", "user.py": body})
    assert any(message in line for line in problems(root)), problems(root)


def test_deliberate_deferrals_pass(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "net.py": "import torch\n",
        "user.py": ("def f():\n    import torch  # deferred: torch on first use\n"
                    "    from .net import torch as t  # deferred: net loads torch\n"
                    "    try:\n        import GeodisTK\n    except ImportError:\n        GeodisTK = None\n"),
    })
    assert problems(root) == []


def test_runtime_importing_the_tooling_is_reported(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "evaluation/__init__.py": "", "evaluation/charts.py": "",
                            "segmenter.py": "from .evaluation import charts\n"})
    assert problems(root) == ["MIDeepSegLib.segmenter (runtime) imports the research tooling "
                              "MIDeepSegLib.evaluation.charts at module level"]


def test_importing_another_modules_private_name_is_reported(tmp_path):
    root = _tree(tmp_path, {"__init__.py": "", "a.py": "_HIDDEN = 1\n", "b.py": "from .a import _HIDDEN\n"})
    assert problems(root) == ["MIDeepSegLib/b.py:1: imports the private name _HIDDEN of MIDeepSegLib.a"]
