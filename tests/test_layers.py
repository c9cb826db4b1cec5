"""Keep the layering honest: imports only point down (README, "Development").

Every module of ``plane_sync`` is parsed (imports inside functions count too) and each import
of our own code is checked against the layer table below. ``local`` and ``remote`` share a rank:
neither may import the other. A module may always import its own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "plane_sync"

# Lowest first. A module may import a package of a strictly lower rank, or its own package.
LAYERS: dict[str, int] = {
    "plane_sync": 0,  # the package itself: __version__
    "errors": 0,
    "core": 1,
    "local": 2,
    "remote": 2,
    "config": 3,
    "sync": 4,
    "service": 5,
    "commands": 6,
    "cli": 7,
    "__main__": 8,
}
# The emulator is a world of its own: it may use core values and errors, and only the demo
# (and the `emulator` command in the CLI) may start it.
EMULATOR_MAY_IMPORT = {"plane_sync", "errors", "core", "emulator"}
EMULATOR_USERS = {"commands.demo", "cli"}

# Third-party packages and the only layers that may import them.
THIRD_PARTY = {
    "httpx": {"remote"},
    "httpcore": {"remote"},
    "watchdog": {"local.watch", "local.inotify_events"},
    "yaml": {"config"},
    "prometheus_client": {"service.metrics"},
}
# core is pure: no I/O, no clock, no logging. These are the standard modules it may use.
CORE_STDLIB = {"__future__", "collections", "collections.abc", "dataclasses", "typing",
               "posixpath", "hashlib", "re", "unicodedata", "mimetypes", "enum", "functools",
               "itertools", "math"}
CORE_FORBIDDEN_CALLS = {"open", "print", "input", "__import__", "exec", "eval", "breakpoint"}


def imports_of(source: str, module: str) -> set[str]:
    """Absolute names of every module ``source`` (the module ``module``) imports."""
    found: set[str] = set()
    package = module.split(".")[:-1] if not module.endswith("__init__") else module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["plane_sync", *package[: len(package) - node.level + 1]]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # ``from plane_sync.sync import engine`` imports plane_sync.sync.engine.
            found.update(f"{name}.{alias.name}" for alias in node.names
                         if name.startswith("plane_sync"))
    return found


def layer_of(name: str) -> str:
    """The layer of a dotted module name relative to plane_sync: "sync.engine" -> "sync"."""
    return name.split(".")[0]


def violations(module: str, source: str) -> list[str]:
    """What is wrong with the imports of ``module`` (dotted, relative to plane_sync)."""
    problems: list[str] = []
    own = layer_of(module)
    for name in sorted(imports_of(source, module)):
        top = name.split(".")[0]
        if top == "plane_sync":
            rest = name.split(".")[1:]
            target = rest[0] if rest else "plane_sync"
            if target not in LAYERS and target != "emulator":
                continue  # a name imported from the package itself: plane_sync.__version__
            if own == "emulator":
                if target not in EMULATOR_MAY_IMPORT:
                    problems.append(f"emulator.{module} imports {name}")
                continue
            if target == "emulator":
                if module not in EMULATOR_USERS:
                    problems.append(f"{module} imports the emulator ({name})")
                continue
            if target == own:
                continue
            if LAYERS[target] >= LAYERS[own]:
                problems.append(f"{module} (layer {own}, rank {LAYERS[own]}) imports {name} "
                                f"(layer {target}, rank {LAYERS[target]})")
        elif top in THIRD_PARTY and own != "emulator":
            allowed = THIRD_PARTY[top]
            if own not in allowed and module not in allowed:
                problems.append(f"{module} imports {top} (only {sorted(allowed)} may)")
        elif own == "core" and name not in CORE_STDLIB:
            problems.append(f"{module} imports {name}: core does no I/O")
    if own == "core":
        called = {node.func.id for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        problems += [f"{module} calls {c}(): core does no I/O"
                     for c in sorted(called & CORE_FORBIDDEN_CALLS)]
    return problems


def _modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", "."), p)
            for p in sorted(PACKAGE.rglob("*.py"))]


@pytest.mark.parametrize(("name", "path"), _modules(), ids=lambda v: str(v))
def test_module_imports_point_down(name: str, path: Path) -> None:
    assert violations(name, path.read_text(encoding="utf-8")) == []


def test_every_package_is_in_the_table() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert packages - {"emulator"} <= set(LAYERS)
    assert modules <= set(LAYERS), modules - set(LAYERS)


# The checker itself must catch what it is there to catch.
@pytest.mark.parametrize(("module", "source"), [
    ("core.reconcile", "from plane_sync.sync.engine import Engine\n"),
    ("core.reconcile", "import os\n"),
    ("core.models", "x = open('f')\n"),
    ("local.scan", "from plane_sync.remote.client import PlaneClient\n"),
    ("remote.upload", "from plane_sync.local.scan import scan_folder\n"),
    ("remote.client", "from plane_sync.config.types import Config\n"),
    ("config.load", "from plane_sync.sync import state\n"),
    ("sync.engine", "def f():\n    from plane_sync.service.daemon import Daemon\n"),
    ("service.daemon", "from plane_sync.commands import sync\n"),
    ("service.daemon", "from plane_sync.emulator import Emulator\n"),
    ("sync.engine", "import httpx\n"),
    ("local.scan", "import watchdog.observers\n"),
    ("sync.state", "import yaml\n"),
    ("commands.sync", "from plane_sync import cli\n"),
    ("emulator.views", "from plane_sync.remote.client import PlaneClient\n"),
])
def test_checker_refuses_upward_imports(module: str, source: str) -> None:
    assert violations(module, source), f"{module}: {source!r} passed the checker"


@pytest.mark.parametrize(("module", "source"), [
    ("sync.engine", "from plane_sync.core.reconcile import plan\nimport structlog\n"),
    ("service.daemon", "from plane_sync.sync.engine import Engine\n"),
    ("remote.client", "import httpx\nfrom plane_sync.errors import PlaneError\n"),
    ("cli", "from plane_sync import __version__\nfrom plane_sync.commands import sync\n"),
    ("commands.demo", "from plane_sync.emulator import Emulator\n"),
    ("local.watch", "from .mounts import read_mounts\nimport watchdog\n"),
])
def test_checker_allows_downward_imports(module: str, source: str) -> None:
    assert violations(module, source) == []
