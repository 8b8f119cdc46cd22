"""The architecture's import rules, checked on the source (no import needed)."""

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTOCOL_MODULES = ["parser", "requests", "errors", "cnum", "meta"]
NOT_IN_PROTOCOL = {"asyncio", "socket", "numpy", "allocator", "selectors", "uvloop"}


def imported_roots(path: pathlib.Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("name", PROTOCOL_MODULES)
def test_protocol_modules_are_sans_io(name):
    path = ROOT / "memcache_py" / f"{name}.py"
    if not path.exists():
        pytest.skip(f"{name}.py not present")
    assert not imported_roots(path) & NOT_IN_PROTOCOL


@pytest.mark.parametrize("path", sorted((ROOT / "allocator").glob("*.py")), ids=lambda p: p.name)
def test_allocator_imports_no_daemon_and_no_io(path):
    assert not imported_roots(path) & {"memcache_py", "asyncio", "socket", "uvloop"}


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(pathlib.Path(sys.executable).parent / "lint-imports")
    if not pathlib.Path(exe).exists():
        pytest.skip("import-linter not installed")
    proc = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
