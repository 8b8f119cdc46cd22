"""Raw-socket helpers for the integration tests."""

from __future__ import annotations

import socket
import time


class Conn:
    """A blocking text-protocol connection with exact-reply helpers."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, terminator: bytes, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while terminator not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {terminator!r} in {self.buf[-200:]!r}")
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError(f"closed; have {self.buf[-200:]!r}")
            self.buf += chunk
        i = self.buf.index(terminator) + len(terminator)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"have {len(self.buf)} of {n} bytes")
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, data: bytes, terminator: bytes = b"\r\n") -> bytes:
        self.send(data)
        return self.read_until(terminator)

    def is_closed(self, timeout: float = 2.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def stats(conn: Conn, sub: bytes = b"") -> dict[str, str]:
    raw = conn.cmd(b"stats" + (b" " + sub if sub else b"") + b"\r\n", b"END\r\n")
    out = {}
    for line in raw.decode().split("\r\n"):
        if line.startswith("STAT "):
            _, k, v = line.split(" ", 2)
            out[k] = v
    return out
