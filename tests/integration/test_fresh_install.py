"""The issue-18 promise: in a fresh virtualenv, `pip install` of the project and a test file that
uses `memcache_client` pass, with no memcached binary anywhere on PATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

TEST_FILE = '''
import shutil

def test_no_memcached_binary():
    assert shutil.which("memcached") is None

def test_cache(memcache_client):
    memcache_client.set("greeting", b"hello")
    assert memcache_client.get("greeting") == b"hello"
'''


def test_issue_18_fresh_venv_plugin_needs_no_memcached(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis", ".benchmarks",
        "tests", "docs", "bench", "fuzz"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ".", "pytest"], cwd=src,
                          capture_output=True, text=True, timeout=900)
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip("no package index reachable: " + done.stderr[-300:])
    assert done.returncode == 0, done.stderr[-2000:]
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "memcache_py" / "py.typed").is_file()
    assert (venv / "bin" / "memcache-cli").exists() and (venv / "bin" / "memcache-py").exists()

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_cache.py").write_text(TEST_FILE)
    env = {"PATH": f"{venv / 'bin'}:/nonexistent", "HOME": str(tmp_path)}
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p",
                          "no:cacheprovider"], cwd=project, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
