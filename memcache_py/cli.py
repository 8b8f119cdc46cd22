"""`memcache-cli [HOST:PORT] [COMMAND...]`: an interactive client, what redis-cli is to Redis.

Commands are typed as in telnet (`set k 0 0 5`, `get a b`, `stats slabs`, `mg k v`); for a
storage command the data block is the next line, and the client sends its true length (the
length may be left out: `set k 0 0`). Replies are printed by display.py. Each command is sent
followed by meta's `mn`, whose `MN` marks the end of the reply, so noreply/quiet commands and
multi-line replies need no per-command knowledge of how they end.

Without COMMAND and with a terminal: a prompt with line editing and history (readline).
With COMMAND: that one command (the last word of a storage command is its value, `-` reads it
from stdin). Otherwise commands are read from stdin. Exit status: 0; 1 when a reply was
ERROR / CLIENT_ERROR / SERVER_ERROR; 2 when the server cannot be reached.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Callable, Iterator

from .display import Line, Part, Value, is_error, render

DEFAULT_ADDRESS = "127.0.0.1:11211"
TIMEOUT = 30.0                  # seconds to wait for a reply before giving up
HISTORY_LENGTH = 1000
STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}
VERBS = ["add", "append", "cas", "decr", "delete", "flush_all", "gat", "gats", "get", "gets",
         "incr", "lru_crawler", "ma", "md", "me", "mg", "mn", "ms", "prepend", "quit", "replace",
         "set", "shutdown", "stats", "touch", "verbosity", "version", "help", "exit"]
USAGE = """\
usage: memcache-cli [HOST:PORT | /path/to/socket] [COMMAND...]

Talks memcached's text and meta protocols. At the prompt, type commands as in telnet; a
storage command (set add replace append prepend cas, ms) takes its data on the next line and
its length may be left out. `help` shows this, `exit` or Ctrl-D leaves.
  memcache-cli                              a prompt, to 127.0.0.1:11211
  memcache-cli 127.0.0.1:11311 stats slabs  one command
  memcache-cli set greeting 0 0 hello       a storage command: the last word is the value
  memcache-cli set blob 0 0 - < file        the value read from stdin
  printf 'get a\\nget b\\n' | memcache-cli     commands from stdin
Exit status: 1 if a reply was ERROR, CLIENT_ERROR or SERVER_ERROR; 2 if unreachable."""


class Closed(Exception):
    """The server closed the connection."""


class OutputClosed(Exception):
    """Standard output went away (`memcache-cli ... | head`): stop quietly."""


class Connection:
    """A blocking connection with line and exact reads (the reply framing needs both)."""

    def __init__(self, address: str, timeout: float = TIMEOUT):
        self.address = address
        family, target = parse_address(address)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(target)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed()
        self.buf += chunk

    def readline(self, end: bytes = b"\r\n") -> bytes:
        while (i := self.buf.find(end)) < 0:
            self._fill()
        line, self.buf = self.buf[:i], self.buf[i + len(end):]
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def execute(self, request: bytes) -> list[Part]:
        """Send one request and read its reply, up to the `MN` of the `mn` sent after it."""
        quitting = request.split(None, 1)[:1] == [b"quit"]
        self.sock.sendall(request if quitting else request + b"mn\r\n")
        parts: list[Part] = []
        if quitting:
            return parts
        while True:
            line = self.readline()
            if line == b"MN":
                return parts
            text = line.decode("utf-8", "backslashreplace")
            fields = text.split()
            if len(fields) >= 4 and fields[0] == "VALUE" and fields[3].isdigit():
                parts.append(Value(text, self.read_exact(int(fields[3]) + 2)[:-2]))
            elif len(fields) >= 2 and fields[0] == "VA" and fields[1].isdigit():
                parts.append(Value(text, self.read_exact(int(fields[1]) + 2)[:-2]))
            else:
                parts.append(Line(text))

    def stream(self, request: bytes, out: Callable[[str], None]) -> list[Part]:
        """`watch`: after its OK the connection is a log stream, printed until it ends."""
        self.sock.sendall(request)
        first = self.readline().decode("utf-8", "backslashreplace")
        if first != "OK":
            return [Line(first)]
        out(first)
        sys.stdout.flush()
        self.sock.settimeout(None)          # log lines come when the server has some
        try:
            while True:
                line = self.readline(b"\n").removesuffix(b"\r")   # log lines end in \n
                out(line.decode("utf-8", "backslashreplace"))
                sys.stdout.flush()
        except KeyboardInterrupt:       # Ctrl-C ends the watch (and this connection)
            return []

    def close(self) -> None:
        self.sock.close()


def parse_address(address: str) -> tuple[int, object]:
    """`host:port`, `[v6]:port`, `host` (port 11211) or a UNIX socket path."""
    if address.startswith("/") or address.startswith("unix:"):
        return socket.AF_UNIX, address.removeprefix("unix:")
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return socket.AF_INET6, (host, int(rest[1:]) if rest.startswith(":") else 11211)
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, "11211"
    return socket.AF_INET, (host or "127.0.0.1", int(port))


def looks_like_address(word: str) -> bool:
    if word.startswith(("/", "unix:", "[")):
        return True
    host, sep, port = word.rpartition(":")
    return bool(sep and host and port.isdigit())


# ---- building requests ---------------------------------------------------------------------

def wants_data(header: bytes) -> bool:
    """Whether this command line is a storage command that a data block must follow."""
    words = header.split()
    if not words:
        return False
    if words[0] == b"ms":
        return len(words) >= 2
    if words[0] not in STORAGE:
        return False
    n = len(words) - (words[-1] == b"noreply")
    return n >= (5 if words[0] == b"cas" else 4)


def storage_request(header: bytes, data: bytes, note: Callable[[str], None]) -> bytes:
    """The header with the data's true length in its place, the data block and its \\r\\n."""
    words = header.split()
    size = str(len(data)).encode()
    if words[0] == b"ms":
        at, given = 2, len(words) > 2 and words[2].isdigit()
    else:
        n = len(words) - (words[-1] == b"noreply")
        full = 6 if words[0] == b"cas" else 5
        at, given = 4, n >= full
    if given:
        if words[at] != size:
            note(f"(length {words[at].decode()} given, the data is {len(data)} bytes: "
                 f"sent {len(data)})")
        words[at] = size
    else:
        words.insert(at, size)
    return b" ".join(words) + b"\r\n" + data + b"\r\n"


# ---- running commands ----------------------------------------------------------------------

class Client:
    """Runs command lines against one server, reconnecting after the server closes."""

    def __init__(self, address: str, out: Callable[[str], None] = print,
                 err: Callable[[str], None] | None = None):
        self.address = address
        self.out = out
        self.err = err or (lambda text: print(text, file=sys.stderr))
        self.conn: Connection | None = None
        self.failed = False          # an error reply was seen

    def run(self, header: bytes, data: bytes | None = None) -> None:
        if data is not None:
            request = storage_request(header, data, self.err)
        else:
            request = header + b"\r\n"
        if self.conn is None:
            self.conn = Connection(self.address)
        try:
            if header.split()[:1] == [b"watch"]:
                parts = self.conn.stream(request, self.out)
            else:
                parts = self.conn.execute(request)
        except Closed:
            parts = None
        try:
            for line in render(parts or []):
                self.out(line)
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        self.failed |= any(isinstance(p, Line) and is_error(p.text) for p in parts or [])
        if parts is None or header.split()[:1] in ([b"quit"], [b"watch"]):
            if parts is None:
                self.err("(the server closed the connection)")
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _lines(stream) -> Iterator[bytes]:
    for raw in stream:
        yield raw.rstrip(b"\n").removesuffix(b"\r")


def run_stream(client: Client, stream) -> None:
    """Commands from a file of lines; a storage command's data block is its next line."""
    lines = _lines(stream)
    for line in lines:
        if not line.strip():
            continue
        if wants_data(line):
            client.run(line, next(lines, b""))
        else:
            client.run(line)


def run_args(client: Client, words: list[str], stdin) -> None:
    """One command from the arguments; a storage command's last word is its value (`-`: stdin)."""
    encoded = [w.encode("utf-8", "surrogateescape") for w in words]
    header = b" ".join(encoded[:-1])
    if len(words) > 1 and wants_data(header):
        client.run(header, stdin.read() if words[-1] == "-" else encoded[-1])
    else:
        client.run(b" ".join(encoded))


# ---- the prompt ----------------------------------------------------------------------------

def _history_file() -> str | None:
    path = os.environ.get("MEMCACHE_CLI_HISTFILE")
    if path is None:
        path = os.path.join(os.path.expanduser("~"), ".memcache_cli_history")
    return path or None


def _setup_readline():
    try:
        import readline
    except ImportError:         # no line editing on this platform; the prompt still works
        return None
    readline.set_history_length(HISTORY_LENGTH)
    path = _history_file()
    if path and os.path.exists(path):
        try:
            readline.read_history_file(path)
        except OSError:
            pass

    def complete(text: str, state: int) -> str | None:
        if readline.get_begidx() > 0:
            return None
        matches = [v + " " for v in VERBS if v.startswith(text)]
        return matches[state] if state < len(matches) else None
    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")
    return readline


def _forget_last(readline) -> None:
    """A data block is not a command: keep it out of the history."""
    if readline is not None and readline.get_current_history_length():
        readline.remove_history_item(readline.get_current_history_length() - 1)


def interactive(client: Client) -> None:
    readline = _setup_readline()
    prompt = f"{client.address}> "
    try:
        while True:
            try:
                line = input(prompt).strip()
            except KeyboardInterrupt:
                print()
                continue
            except EOFError:
                print()
                return
            if not line:
                continue
            if line in ("exit", "quit"):
                return
            if line == "help":
                print(USAGE)
                continue
            header = line.encode("utf-8", "surrogateescape")
            try:
                if wants_data(header):
                    data = input("...> ")
                    _forget_last(readline)
                    client.run(header, data.encode("utf-8", "surrogateescape"))
                else:
                    client.run(header)
            except KeyboardInterrupt:
                print()
                client.close()          # a reply may be half read: start afresh
            except OSError as exc:
                print(f"({client.address}: {exc})", file=sys.stderr)
                client.close()
    finally:
        path = _history_file()
        if readline is not None and path:
            try:
                readline.write_history_file(path)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    address = args.pop(0) if args and looks_like_address(args[0]) else DEFAULT_ADDRESS
    client = Client(address)
    try:
        if args:
            run_args(client, args, sys.stdin.buffer)
        elif sys.stdin.isatty():
            interactive(client)
            return 0                    # a person has read the error replies already
        else:
            run_stream(client, sys.stdin.buffer)
    except OutputClosed:
        devnull = os.open(os.devnull, os.O_WRONLY)     # nothing more to flush at exit
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"memcache-cli: {address}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 1 if client.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
