"""Stop signals that arrive while the server is still starting are not lost (server._SignalRelay).

A SIGTERM in the window between the first accepted connection and the end of serve() used to hit
the default action and kill the process with -15 (seen once in CI, test_launchers).
"""

from __future__ import annotations

from memcache_py import server


class FakeRunning:
    def __init__(self) -> None:
        self.stops: list[bool] = []

    def request_stop(self, graceful: bool = False) -> None:
        self.stops.append(graceful)


def test_a_stop_before_start_is_acted_on_once_started():
    relay = server._SignalRelay()
    relay.stop()
    running = FakeRunning()
    assert running.stops == []
    relay.started(running)            # type: ignore[arg-type]
    assert running.stops == [False]


def test_a_graceful_stop_before_start_stays_graceful(capsys):
    relay = server._SignalRelay()
    relay.stop(True)
    running = FakeRunning()
    relay.started(running)            # type: ignore[arg-type]
    assert running.stops == [True]
    assert "Gracefully stopping" in capsys.readouterr().err


def test_after_start_a_stop_goes_straight_through():
    relay = server._SignalRelay()
    running = FakeRunning()
    relay.started(running)            # type: ignore[arg-type]
    relay.stop()
    assert running.stops == [False]


def test_sighup_before_start_is_ignored():
    server._SignalRelay().hup()       # nothing to reload yet; must not raise
