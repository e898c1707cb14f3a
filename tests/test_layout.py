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


def _imports(mod: str, path: pathlib.Path, modules, *, everywhere: bool = False) -> dict[str, int]:
    """mfscan modules ``mod`` imports, each with the line of its first import: at module level
    only (what importing ``mod`` runs), or ``everywhere`` (inside functions too)."""
    out: dict[str, int] = {}
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree) if everywhere else tree.body:
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
                    out.setdefault(n, node.lineno)
    return out


def _top_level_imports(mod: str, path: pathlib.Path, modules) -> set[str]:
    """mfscan modules imported when ``mod`` is imported (module level only, not inside functions)."""
    return set(_imports(mod, path, modules))


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


#: The layers of ``mfscan/``, lowest first, following the data path (README "Development"
#: and CONTRIBUTING show the same picture). A module may import its own package and the
#: layers below it, never a layer above, nor a sibling of its own layer: the packages of one
#: layer are independent. ``synthetic`` (test data) sits beside ``report``, so nothing but
#: ``cli`` (and the tests) imports it. The package ``mfscan`` itself (version, notice) is
#: below everything.
LAYERS = (
    ("errors",),
    ("vocab", "geometry"),
    ("visits",),
    ("calibration",),
    ("io",),
    ("annotations",),
    ("measure",),
    ("assist", "learn"),
    ("stats",),
    ("report", "synthetic"),
    ("cli",),
)


def _layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return -1  # the package itself: __version__, RESEARCH_NOTICE
    for i, layer in enumerate(LAYERS):
        if parts[1] in layer:
            return i
    raise AssertionError(f"{module} is in no layer: add its package to LAYERS (and the pictures)")


def _layer_violations(base: pathlib.Path) -> list[str]:
    """Every import, at module level or inside a function, that goes up a layer or sideways."""
    modules = {_module_name(p, base): p for p in (base / "mfscan").rglob("*.py")}
    found = []
    for mod, path in sorted(modules.items()):
        for dep, line in sorted(_imports(mod, path, modules, everywhere=True).items()):
            own, their = _layer_of(mod), _layer_of(dep)
            sideways = own == their and mod.split(".")[1] != dep.split(".")[1]
            if their > own or sideways:
                found.append(f"{path.relative_to(base)}:{line} ({mod}) imports {dep}")
    return found


def test_every_import_follows_the_layers():
    assert _layer_violations(ROOT) == []


def test_layer_contract_finds_an_upward_import_inside_a_function(tmp_path):
    pkg = tmp_path / "mfscan"
    for sub in ("io", "cli", "stats", "report"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "reader.py").write_text(
        "import numpy\n\n\ndef read(path):\n    from mfscan.cli import main\n\n    return main\n"
    )
    (pkg / "stats" / "table.py").write_text("from mfscan.io import reader\n")  # downward: allowed
    (pkg / "report" / "build.py").write_text("def f():\n    from mfscan.stats.table import reader\n")
    modules = {_module_name(p, tmp_path): p for p in pkg.rglob("*.py")}
    # the module-level reading of the cycle test does not see it; the contract does
    assert _top_level_imports("mfscan.io.reader", pkg / "io" / "reader.py", modules) == set()
    assert _layer_violations(tmp_path) == ["mfscan/io/reader.py:5 (mfscan.io.reader) imports mfscan.cli"]


def test_layer_contract_finds_a_sideways_import(tmp_path):
    pkg = tmp_path / "mfscan"
    for sub in ("report", "synthetic"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "report" / "demo.py").write_text("from mfscan import synthetic\n")
    assert _layer_violations(tmp_path) == [
        "mfscan/report/demo.py:1 (mfscan.report.demo) imports mfscan.synthetic"
    ]


def _imported_names(module: str, base: pathlib.Path) -> set[str]:
    """Names ``module`` binds by importing them from outside its own package."""
    path = base.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    if not path.exists():
        return set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, node, path.name == "__init__.py") or ""
            if not source.startswith(package + "."):
                out |= {a.asname or a.name for a in node.names}
    return out


def _reexports(base: pathlib.Path) -> list[str]:
    """Names a module imports from another mfscan module only to pass them on (a second
    import path for one name). Allowed: a package's ``__init__`` listing its own submodules'
    names, and a public module passing on the names of its private helper modules (``_x``)."""
    found = []
    for path in sorted((base / "mfscan").rglob("*.py")):
        mod = _module_name(path, base)
        tree = ast.parse(path.read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        listed = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                listed = {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)}
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve(mod, node, is_pkg) or ""
            if not source.startswith("mfscan") or source.rpartition(".")[2].startswith("_"):
                continue
            for a in node.names:
                bound = a.asname or a.name
                if is_pkg:  # its own submodules' names, not ones they import from elsewhere
                    passed_on = not source.startswith(mod + ".") or a.name in _imported_names(source, base)
                else:
                    passed_on = a.name == "*" or bound not in used or bound in listed
                if passed_on:
                    found.append(f"{path.relative_to(base)}:{node.lineno} passes on {source}.{a.name}")
    return found


def test_each_name_has_one_import_path():
    assert _reexports(ROOT) == []


def _public_functions(base: pathlib.Path) -> dict[str, list[str]]:
    """Top-level public function names defined under `base`, with the modules defining them."""
    out: dict[str, list[str]] = {}
    for p in sorted(base.rglob("*.py")):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                out.setdefault(node.name, []).append(p.relative_to(ROOT).as_posix())
    return out


def test_each_calibration_function_has_one_definition():
    """A calibration rule has one function and one name: no other module of the core or the plugin
    defines a function named like one of :mod:`mfscan.calibration` (a second ``roi_calibration``
    taking its arguments in another order is how two callers start to pass them wrong)."""
    names = {
        a.asname or a.name
        for node in ast.parse((CORE / "calibration" / "__init__.py").read_text()).body
        if isinstance(node, ast.ImportFrom)
        for a in node.names
    }
    defined = _public_functions(CORE)
    for name, mods in _public_functions(PLUGIN).items():
        defined.setdefault(name, []).extend(mods)
    doubles = {
        n: [m for m in mods if not m.startswith("mfscan/calibration/")]
        for n, mods in defined.items()
        if n in names
    }
    assert {n: m for n, m in doubles.items() if m} == {}


def _private_imports_between_commands(cli: pathlib.Path) -> list[str]:
    """``from mfscan.cli.<command> import _name`` in another command's module: a private
    helper of one command used by another (the shared ones live in ``mfscan.cli._common``)."""
    found = []
    for p in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if not (
                isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mfscan.cli.")
            ):
                continue
            command = node.module.rpartition(".")[2]
            if command.startswith("_") or command == p.stem:
                continue
            found += [
                f"{p.name}:{node.lineno} {command}.{a.name}" for a in node.names if a.name.startswith("_")
            ]
    return found


def test_no_command_imports_another_commands_private_helper():
    """A rule two commands need (which scale a typed --mm-per-pixel gives) is one public function
    below both, never one command's private helper called by another."""
    assert _private_imports_between_commands(CORE / "cli") == []


def test_private_import_check_finds_a_planted_one(tmp_path):
    (tmp_path / "learn.py").write_text("def f():\n    from mfscan.cli.propose import _override\n")
    (tmp_path / "propose.py").write_text("from mfscan.cli._common import _say\n")
    assert _private_imports_between_commands(tmp_path) == ["learn.py:2 propose._override"]


def test_reexport_check_finds_planted_aliases(tmp_path):
    pkg = tmp_path / "mfscan"
    (pkg / "io").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "__init__.py").write_text(
        "from mfscan.vocab import SIDES\nfrom .files import LEVELS, read\n"
    )
    (pkg / "vocab.py").write_text("SIDES = ('left', 'right')\nLEVELS = ('L4', 'L5')\n")
    (pkg / "io" / "files.py").write_text(
        "from mfscan.vocab import LEVELS\n\n\ndef read():\n    return LEVELS\n"
    )
    (pkg / "images.py").write_text("from mfscan.io.files import *  # noqa: F403\n")
    (pkg / "io" / "tables.py").write_text(
        "from mfscan.io.files import read as _read  # kept importable\n"
        "from mfscan.vocab import SIDES\n\n__all__ = ['SIDES', 'f']\n\n\ndef f():\n    return SIDES\n"
    )
    assert _reexports(tmp_path) == [
        "mfscan/images.py:1 passes on mfscan.io.files.*",
        "mfscan/io/__init__.py:1 passes on mfscan.vocab.SIDES",
        "mfscan/io/__init__.py:2 passes on mfscan.io.files.LEVELS",
        "mfscan/io/tables.py:1 passes on mfscan.io.files.read",
        "mfscan/io/tables.py:2 passes on mfscan.vocab.SIDES",
    ]


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


def _section_signatures(base: pathlib.Path) -> dict[str, str]:
    """Each module of ``mfscan/report/sections/`` with the signature of its ``section``
    function ("" when it has none), read from the source."""
    out = {}
    for path in sorted((base / "mfscan" / "report" / "sections").glob("*.py")):
        if path.name == "__init__.py":
            continue
        sig = ""
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == "section":
                a = node.args
                names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
                extra = ("*" if a.vararg else "") + ("**" if a.kwarg else "")
                sig = f"({', '.join(names)}{extra}) -> {ast.unparse(node.returns) if node.returns else ''}"
        out[path.stem] = sig
    return out


def test_every_report_section_has_one_signature_and_a_place_on_the_page():
    # CONTRIBUTING: one module per section in mfscan/report/sections/, each `section(ctx) ->
    # list[str]`, listed once in page order by build.py:_page_sections; no other section files
    report = CORE / "report"
    assert (
        sorted(p.name for p in report.glob("_section_*.py"))
        + sorted(p.name for p in report.glob("_part_*.py"))
        == []
    )
    signatures = _section_signatures(ROOT)
    assert len(signatures) >= 12
    assert {m: s for m, s in signatures.items() if s != "(ctx) -> list[str]"} == {}
    build = ast.parse((report / "build.py").read_text())
    page = next(n for n in ast.walk(build) if isinstance(n, ast.FunctionDef) and n.name == "_page_sections")
    listed = [n.value.id for n in ast.walk(page) if isinstance(n, ast.Attribute) and n.attr == "section"]
    assert sorted(listed) == sorted(signatures)
