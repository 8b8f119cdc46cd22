"""memcache_py.Server and serve_in_thread: in-process, on uvloop and on asyncio's own loop."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pymemcache.client.base import Client

import memcache_py
from memcache_py.embed import KEYWORDS, build_settings

pytestmark = pytest.mark.integration

LOOPS = ["asyncio"]
try:
    import uvloop
    LOOPS.append("uvloop")
except ImportError:        # pragma: no cover - uvloop is a dependency where it builds
    uvloop = None


def run_on(loop_name: str, coro):
    loop = uvloop.new_event_loop() if loop_name == "uvloop" else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def port_free(port: int) -> bool:
    """Whether a server could listen there again (with SO_REUSEADDR, as every server binds)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


async def exchange(server, data: bytes, until: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(data)
    reply = await reader.readuntil(until)
    writer.close()
    return reply


@pytest.mark.parametrize("loop_name", LOOPS)
def test_server_serves_on_the_running_loop_and_frees_everything(loop_name):
    async def main():
        async with memcache_py.Server(port=0, memory_mb=8) as server:
            assert server.port > 0 and server.address == f"127.0.0.1:{server.port}"
            assert await exchange(server, b"set k 0 0 5\r\nhello\r\n", b"\r\n") == b"STORED\r\n"
            assert await exchange(server, b"get k\r\n", b"END\r\n") == \
                b"VALUE k 0 5\r\nhello\r\nEND\r\n"
            assert (await server.stats())["curr_items"] == "1"
            assert (await server.stats("settings"))["maxbytes"] == str(8 << 20)
            # clients mid-way: a reader that does not read, a store half sent (a reservation)
            reader, writer = await asyncio.open_connection(server.host, server.port)
            writer.write(b"set big 0 0 500000\r\n" + b"x" * 500000 + b"\r\n")
            assert await reader.readline() == b"STORED\r\n"
            writer.write(b"get big\r\n" * 50)
            half_reader, half_writer = await asyncio.open_connection(server.host, server.port)
            half_writer.write(b"set half 0 0 100\r\nabc")
            daemon = server.running.daemon
            port = server.port
            for _ in range(500):
                if daemon.cache.store.refs:
                    break
                await asyncio.sleep(0.01)
            assert daemon.cache.store.refs and len(daemon.connections) == 2
        assert not daemon.connections
        assert not daemon.cache.store.refs             # every pin released
        assert port_free(port)
        assert await half_reader.read() == b""          # the server cut both connections
        with pytest.raises(ConnectionError):
            while await reader.read(1 << 20):
                pass
            raise ConnectionResetError      # EOF after what was sent, or a reset: both cut
        writer.close()
        half_writer.close()
        return loop_name

    assert run_on(loop_name, main()) == loop_name


@pytest.mark.parametrize("loop_name", LOOPS)
def test_server_flush_and_flags_as_strings(loop_name):
    async def main():
        async with memcache_py.Server("-m 4 -M", max_item_size="2m") as server:
            settings = await server.stats("settings")
            assert (settings["maxbytes"], settings["evictions"]) == (str(4 << 20), "off")
            assert settings["item_size_max"] == str(2 << 20)
            await exchange(server, b"set k 0 0 1\r\nx\r\n", b"\r\n")
            await server.flush()
            assert await exchange(server, b"get k\r\n", b"END\r\n") == b"END\r\n"
    run_on(loop_name, main())


def test_shutdown_command_ends_serve_forever():
    async def main():
        server = await memcache_py.Server(enable_shutdown=True).start()
        task = asyncio.ensure_future(server.serve_forever())
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"shutdown\r\n")
        await asyncio.wait_for(task, 10)
        return server
    server = run_on("asyncio", main())
    assert server._running is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(memory_mb=1), "Cannot set item size limit higher than 1/2 of memory max."),
    (dict(conn_limit=0), "Maximum connections must be greater than 0"),
    (dict(slab_growth_factor=1), "Factor must be greater than 1"),
    (dict(conn_limt=5), "unknown option 'conn_limt' (did you mean 'conn_limit'?)"),
    (dict(disable_evictions="yes"), "option 'disable_evictions' takes True or False, not 'yes'"),
    (dict(daemon=True), "unknown option 'daemon'"),
    (dict(hot_lru_pct=70, warm_lru_pct=40),
     "hot_lru_pct + warm_lru_pct cannot be more than 80% combined"),
])
def test_bad_options_raise_options_error_with_the_message(kwargs, message):
    with pytest.raises(memcache_py.OptionsError) as info:
        memcache_py.Server(**kwargs)
    assert str(info.value) == message
    with pytest.raises(memcache_py.OptionsError):
        memcache_py.serve_in_thread(**kwargs)


def test_bad_flag_strings_and_print_and_exit_flags():
    with pytest.raises(memcache_py.OptionsError, match="invalid option -- 'Q'"):
        memcache_py.Server("-Q")
    with pytest.raises(memcache_py.OptionsError, match="print and exit"):
        memcache_py.Server("-V")
    with pytest.raises(memcache_py.OptionsError, match="daemonize"):
        memcache_py.Server("-d")


def test_keywords_follow_the_table():
    assert {"conn_limit", "memory_limit", "max_item_size", "disable_evictions", "listen",
            "idle_timeout", "no_modern", "slab_chunk_max", "verbose"} <= set(KEYWORDS)
    s = build_settings(conn_limit=8, disable_evictions=True, idle_timeout=5, no_modern=True,
                       verbose=2, listen=["127.0.0.1", "::1"], maxconns_fast=False)
    assert (s.max_connections, s.evictions, s.idle_timeout, s.no_modern, s.verbosity) == \
        (8, False, 5, True, 2)
    assert s.listen == ("127.0.0.1", "::1") and not s.maxconns_fast and s.port == -1
    assert build_settings("-p 0", port=0).port == 0      # flags given as strings win


def test_port_in_use_raises_listen_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(memcache_py.ListenError) as info:
            memcache_py.serve_in_thread(port=port)
        assert "Address already in use" in str(info.value) and str(port) in str(info.value)

        async def main():
            with pytest.raises(memcache_py.ListenError):
                await memcache_py.Server(port=port).start()
        run_on("asyncio", main())


@pytest.mark.parametrize("loop_name", LOOPS)
def test_serve_in_thread_for_synchronous_programs(loop_name):
    with memcache_py.serve_in_thread(memory_mb=8, conn_limit=50, loop=loop_name) as server:
        expected = uvloop.Loop if loop_name == "uvloop" else asyncio.BaseEventLoop
        assert isinstance(server._loop, expected)
        client = Client((server.host, server.port))
        assert client.set("k", b"v", noreply=False)
        assert client.get("k") == b"v"
        assert server.stats()["curr_items"] == "1"
        assert server.stats("settings")["maxconns"] == "50"
        server.flush()
        assert client.get("k") is None
        client.close()
        port = server.port
    assert port_free(port)


def test_the_public_api_is_documented_and_typed():
    from importlib import resources
    assert set(memcache_py.__all__) >= {"Server", "serve_in_thread", "OptionsError",
                                        "ListenError", "Settings", "__version__"}
    for name in memcache_py.__all__:
        value = getattr(memcache_py, name)
        assert name == "__version__" or value.__doc__, name
    assert resources.files("memcache_py").joinpath("py.typed").is_file()
    with pytest.raises(AttributeError):
        memcache_py.no_such_name
