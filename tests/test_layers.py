"""Keep the layering honest (see the module table in the README's Development section)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "plane_sync"

# Only these modules may talk HTTP or watch the filesystem.
HTTPX_MODULES = {"plane", "plane_http", "storage", "upload"}
WATCHDOG_MODULES = {"watch"}
# The planner is pure: no I/O, no clock, no logging.
PURE = {"reconcile": {"plane_sync.identity", "plane_sync.mime", "plane_sync.models"}}
PURE_STDLIB = {"__future__", "collections", "collections.abc", "dataclasses", "typing",
               "posixpath"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", "."), p)
            for p in sorted(PACKAGE.rglob("*.py"))]


@pytest.mark.parametrize(("name", "path"), _modules(), ids=lambda v: str(v))
def test_module_imports_respect_the_layers(name: str, path: Path) -> None:
    imports = _imports(path)
    top = {i.split(".")[0] for i in imports}
    if not name.startswith("emulator"):
        if "httpx" in top:
            assert name in HTTPX_MODULES, f"{name} imports httpx"
        if "watchdog" in top:
            assert name in WATCHDOG_MODULES, f"{name} imports watchdog"
        assert "plane_sync.emulator" not in imports or name.startswith("commands."), (
            f"{name} imports the emulator (only the demo command may)")
    if name != "__main__":
        assert "plane_sync.cli" not in imports, f"{name} imports the CLI"
    if name in PURE:
        own = {i for i in imports if i.startswith("plane_sync")}
        assert own <= PURE[name], f"{name} imports {own - PURE[name]}"
        assert imports - own <= PURE_STDLIB, f"{name} imports {imports - own - PURE_STDLIB}"
