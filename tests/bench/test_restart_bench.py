"""bench.restart: the stop/start measurement restores every item, ours and memcached's."""

import shutil

import pytest

from bench import restart

pytestmark = pytest.mark.integration


def test_small_run_restores_everything(tmp_path, capsys):
    out = tmp_path / "r.json"
    # 64: memcached -e preallocates a page per class and refuses below 39 MB
    assert restart.main(["--mb", "64", "--fill-seconds", "60", "--out", str(out)]) == 0
    import json
    rows = json.loads(out.read_text())["results"]
    assert rows[0]["daemon"] == "memcache_py"
    if shutil.which("memcached"):
        assert [r["daemon"] for r in rows] == ["memcache_py", "memcached"]
    for r in rows:
        assert r["items"] > 0 and r["restored"] == r["items"] and r["probe_hit"]
    assert "serve s" in capsys.readouterr().out
