"""The pytest plugin (entry point `pytest11`): a memcached for a project's tests, no binary needed.

Fixtures:
- `memcache_server` (session): a daemon on a free loopback port, in a thread of the test
  process, with `.host`, `.port`, `.address`, `.stats()` and `.flush()`; its flags come from
  `--memcache-args` or the ini key `memcache_args` (memcached's flags, e.g. `-m 16 -I 2m`);
- `memcache_client` (function): a pymemcache Client to the test's server, flushed first;
- `memcache_test_server` (function): the server the test talks to: a server of its own when
  the test is marked `@pytest.mark.memcache_args("-m 4 -M")`, else `memcache_server`.

Under pytest-xdist each worker has its own session server. The daemon lives in a daemon thread
of the test process, so an interrupted run cannot leave a process behind. Nothing of the daemon
is imported until a fixture is used: every pytest run in an environment with this package
loads this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from pymemcache.client.base import Client

    from .embed import ThreadedServer

INI_HELP = "memcached flags for the memcache_server fixture, e.g. -m 16 -I 2m"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memcache_py", "memcache_py's memcache_server fixture")
    group.addoption("--memcache-args", dest="memcache_args", default=None, metavar="FLAGS",
                    help=INI_HELP + " (overrides the memcache_args ini key)")
    parser.addini("memcache_args", INI_HELP, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "memcache_args(flags, **options): give this test a memcache server of its "
                   "own, started with memcache_args plus these flags")
    flags = session_flags(config)
    if flags:                       # a mistake is reported once, before any test runs
        try:
            from .embed import build_settings
            build_settings(flags)
        except ValueError as err:
            raise pytest.UsageError(f"memcache_args {flags!r}: {err}") from None


def session_flags(config: pytest.Config) -> str:
    given = config.getoption("memcache_args", None)
    return str(config.getini("memcache_args") if given is None else given)


def _start(*flags: str, **options: Any) -> ThreadedServer:
    from .embed import ListenError, OptionsError, serve_in_thread
    try:
        return serve_in_thread(*flags, **options)
    except OptionsError as err:
        pytest.fail(f"memcache_args {' '.join(flags)!r}: {err}", pytrace=False)
    except ListenError as err:
        pytest.fail(f"memcache_server: {err}", pytrace=False)


@pytest.fixture(scope="session")
def memcache_server(pytestconfig: pytest.Config) -> Iterator[ThreadedServer]:
    """A memcache_py daemon for the whole session (per xdist worker), on a free port."""
    server = _start(session_flags(pytestconfig))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def memcache_test_server(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    """This test's server: its own with @pytest.mark.memcache_args, else memcache_server."""
    marker = request.node.get_closest_marker("memcache_args")
    if marker is None:
        yield request.getfixturevalue("memcache_server")
        return
    server = _start(session_flags(request.config), *marker.args, **marker.kwargs)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def memcache_client(memcache_test_server: ThreadedServer) -> Iterator[Client]:
    """A pymemcache Client to this test's server, which starts empty (flushed)."""
    from pymemcache.client.base import Client
    memcache_test_server.flush()
    client = Client((memcache_test_server.host, memcache_test_server.port),
                    connect_timeout=10, timeout=10, default_noreply=False)
    try:
        yield client
    finally:
        client.close()
