"""The layout rules of CONTRIBUTING.md, checked: no import cycle, no GUI in the core,
sizes that stay readable, and no process-wide side effect from importing the core."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORE = ROOT / "mfscan"
PLUGIN = ROOT / "plugins" / "mfscan_napari"


def _module_name(path: pathlib.Path, base: pathlib.Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _core_modules() -> dict[str, pathlib.Path]:
    return {_module_name(p, ROOT): p for p in CORE.rglob("*.py")}


def _resolve(mod: str, node: ast.ImportFrom, is_pkg: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_imports(mod: str, path: pathlib.Path, modules) -> set[str]:
    """mfscan modules imported when ``mod`` is imported (module level only, not inside functions)."""
    out = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, node, path.name == "__init__.py")
            subs = [f"{target}.{a.name}" for a in node.names]
            names = [n for n in subs if n in modules] or [target]
        else:
            continue
        for n in names:
            if n and n.startswith("mfscan"):
                # the module itself, or the package it is imported from
                while n and n not in modules:
                    n = n.rpartition(".")[0]
                if n and n != mod:
                    out.add(n)
    return out


def test_core_has_no_import_cycle():
    modules = _core_modules()
    graph = {m: _top_level_imports(m, p, modules) for m, p in modules.items()}
    # a package importing its own submodules is the facade pattern, not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not d.startswith(m + ".") and not m.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_cycle_detector_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "mfscan"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from mfscan.b import x\n")
    (pkg / "b.py").write_text("from mfscan import a\nx = 1\n")
    modules = {_module_name(p, tmp_path): p for p in pkg.rglob("*.py")}
    assert _top_level_imports("mfscan.a", pkg / "a.py", modules) == {"mfscan.b"}
    assert _top_level_imports("mfscan.b", pkg / "b.py", modules) == {"mfscan.a"}


@pytest.fixture(scope="module")
def core_imported():
    """Import every module of the core in a fresh interpreter (one run for both tests below):
    the GUI modules it pulled in, and the process settings before and after."""
    code = (
        "import os, sys, json\n"
        "def umask():\n"
        "    try:\n"
        "        for line in open('/proc/self/status'):\n"
        "            if line.startswith('Umask:'):\n"
        "                return line.split()[1]\n"
        "    except OSError:\n"
        "        return None\n"
        "before = (umask(), sys.getswitchinterval(), sys.getrecursionlimit())\n"
        "import importlib, pkgutil, mfscan\n"
        "for m in pkgutil.walk_packages(mfscan.__path__, 'mfscan.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "after = (umask(), sys.getswitchinterval(), sys.getrecursionlimit())\n"
        "gui = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('napari', 'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'mfscan_napari'))\n"
        "mpl = sys.modules.get('matplotlib')\n"
        "print(json.dumps({'gui': gui, 'before': before, 'after': after,\n"
        "                  'backend': mpl.get_backend() if mpl else None}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={"MPLBACKEND": "svg", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_core_never_imports_qt_or_napari(core_imported):
    assert core_imported["gui"] == []


def test_importing_the_core_changes_no_process_setting(core_imported):
    if core_imported["before"][0] is None:
        pytest.skip("needs /proc to read the umask without setting it")
    assert core_imported["before"] == core_imported["after"]
    assert core_imported["backend"] in (None, "svg")  # the caller's choice of backend stands


def _sizes(base: pathlib.Path):
    long_modules, long_functions = [], []
    for p in base.rglob("*.py"):
        src = p.read_text()
        n = len(src.splitlines())
        if n > 500:
            long_modules.append(f"{p.relative_to(ROOT)}: {n} lines")
        for f in ast.walk(ast.parse(src)):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = f.end_lineno - f.lineno + 1
                if length > 120:
                    long_functions.append(f"{p.relative_to(ROOT)}:{f.name}: {length} lines")
    return long_modules, long_functions


@pytest.mark.parametrize("base", [CORE, PLUGIN], ids=["core", "plugin"])
def test_modules_and_functions_stay_readable(base):
    long_modules, long_functions = _sizes(base)
    assert long_modules == []
    assert long_functions == []
