"""The pytest plugin loads in every pytest run where the package is installed: it must not pull
in the daemon (numpy, uvloop, asyncio, the allocator) until a fixture asks for a server."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["numpy", "uvloop", "asyncio", "allocator", "memcache_py.server", "memcache_py.embed",
         "pymemcache"]


def test_loading_the_plugin_imports_nothing_of_the_daemon():
    code = ("import sys, memcache_py, memcache_py.pytest_plugin\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_public_names_load_on_first_use():
    code = ("import sys, memcache_py\n"
            "assert 'memcache_py.embed' not in sys.modules\n"
            "memcache_py.Server\n"
            "print('memcache_py.embed' in sys.modules, 'Server' in dir(memcache_py))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "True True", out.stderr
