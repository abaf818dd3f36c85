"""Regenerate the trimmed Slicer/VTK API inventory used by test_slicer_module_static.py.

Usage::

    python Testing/slicer_api/make_inventory.py SHARED_INVENTORY_DIR SLICER_GIT_DIR

SHARED_INVENTORY_DIR holds ``slicer-api.json`` and ``vtk-names.txt`` (the
project's full inventory, read from Slicer's public sources at v5.8.1, v5.12.3
and main, and from the VTK 9.7 wheel). SLICER_GIT_DIR is a clone of
https://github.com/Slicer/Slicer with the tags fetched: the exports of
``slicer.parameterNodeWrapper`` are read from its ``__all__`` lists there,
because the full inventory does not list them.

Only names are kept (no code): the identifiers present in *all* of v5.8.1, v5.12.3 and
main, plus the few present in only one of them (for clear messages).
"""

import ast
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

VERSIONS = ("v5.8.1", "v5.12.3", "HEAD")
PYTHON_MODULES = ("slicer.util", "slicer.ScriptedLoadableModule", "slicer.i18n", "slicer.testing")
PNW_FILES = ("default", "guiConnectors", "guiCreation", "parameterPack", "serializers", "types", "validators",
             "wrapper", "util")


def _write_gz(path, names):
    with gzip.GzipFile(path, "wb", mtime=0) as f:   # mtime=0: byte-identical output for identical input
        f.write(("\n".join(sorted(names)) + "\n").encode())


def _pnw_exports(slicer_git, version):
    names = set()
    for name in PNW_FILES:
        source = subprocess.run(
            ["git", "-C", str(slicer_git), "show", f"{version}:Base/Python/slicer/parameterNodeWrapper/{name}.py"],
            check=True, capture_output=True, text=True).stdout
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                names.update(e.value for e in node.value.elts)
    return sorted(names)


def main(shared, slicer_git):
    shared, out = Path(shared), Path(__file__).resolve().parent
    inventory = json.loads((shared / "slicer-api.json").read_text())
    revisions = {v: inventory["revisions"][v] for v in VERSIONS}
    names = {v: set(r["cpp_names"]) for v, r in revisions.items()}
    common = set.intersection(*names.values())
    _write_gz(out / "slicer-names.txt.gz", common)
    classes = set.intersection(*(set(r["cpp_classes"]) for r in revisions.values()))
    (out / "slicer-classes.txt").write_text("\n".join(sorted(classes)) + "\n")
    python = {}
    for version, revision in revisions.items():
        entry = {m: revision["python"].get(m, {}) for m in PYTHON_MODULES}
        entry["slicer.parameterNodeWrapper"] = _pnw_exports(slicer_git, version)
        entry["describe"] = revision["describe"]
        entry["only_here_cpp_names"] = sorted(names[version] - common)
        python[version] = entry
    (out / "python-api.json").write_text(json.dumps(python, indent=1, sort_keys=True) + "\n")
    vtk = [line.strip() for line in (shared / "vtk-names.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    keep = [n for n in vtk if re.match(r"^vtk[A-Z]", n) or re.match(r"^[A-Z]\w*[a-z]\w*$", n)]
    _write_gz(out / "vtk-names.txt.gz", set(keep) - common)


if __name__ == "__main__":
    main(*sys.argv[1:3])
