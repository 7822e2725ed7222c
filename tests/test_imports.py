"""Importing the project does nothing: no environment written, no state folder, no file.

Settings are read when asked for (``vbsp_state.settings.get_state``), never at import, and no
module writes ``os.environ``: a value a child process needs is passed to it. Every first-party
module is imported in a fresh interpreter with a scrubbed environment and an empty working
folder, which must stay as they were; and no source line assigns to the environment.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vbsp_state", "features", "training", "serving", "vbsp_risk")

CHILD = """
import importlib, importlib.metadata as md, json, os, pkgutil, re, sys
# Some dependencies set variables when imported (pandera, scikit-learn, mlflow): imported first,
# so only what the project's own modules do is compared.
wanted = {re.split(r"[ ;<>=!~\\[]", r, maxsplit=1)[0].lower().replace("_", "-")
          for r in md.requires("vbsp-risk") or [] if "extra ==" not in r}
for top, dists in md.packages_distributions().items():
    if not top.startswith("_") and wanted & {d.lower().replace("_", "-") for d in dists}:
        importlib.import_module(top)
before = dict(os.environ)
names = []
for package in sys.argv[1:]:
    module = importlib.import_module(package)
    names.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
        names.append(info.name)
after = dict(os.environ)
changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
print(json.dumps({"modules": names, "changed": changed}))
"""

WRITES = {"setdefault", "update", "pop", "popitem", "clear", "__setitem__", "__delitem__"}


def test_every_module_imports_without_touching_the_environment_or_the_folder(
    tmp_path: Path,
) -> None:
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{CHILD}",
            *PACKAGES,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    on_disk = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }
    assert on_disk <= set(result["modules"]), on_disk - set(result["modules"])
    assert result["changed"] == []
    assert list(cwd.iterdir()) == []  # no ./state, no log or database file


def _environ_writes(path: Path) -> list[str]:
    """``os.environ[...] = ...``, ``del os.environ[...]``, ``os.environ.setdefault(...)`` etc."""

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (
                (node.func.attr in WRITES and is_environ(node.func.value))
                or (node.func.attr in {"putenv", "unsetenv"})
            )
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_writes_the_environment() -> None:
    writes = [
        w
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        for w in _environ_writes(p)
    ]
    assert writes == []


def _test_module_imports(path: Path) -> list[str]:
    """First-party ``tests.*`` modules a file imports, other than ``tests.support``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [n for n in names if n.startswith("tests.") and not n.startswith("tests.support")]
    return found


def test_shared_test_helpers_live_in_tests_support() -> None:
    """A test module or conftest imports helpers from ``tests/support/`` only: never another test
    module (its tests would be collected twice, its fixtures shadowed) nor a conftest."""
    files = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]
    bad = {str(p.relative_to(ROOT)): m for p in files if (m := _test_module_imports(p))}
    assert bad == {}
