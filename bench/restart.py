"""Warm restart times, ours beside memcached's `-e`, measured in the same run.

For each daemon: start it with `-e FILE -m MB` (FILE on /dev/shm when there is one), fill it
with 100-byte values until `curr_items` stops growing (a full cache: the first evictions), stop
it with SIGUSR1 and time until the process is gone ("stop"), start it again and time until a
`get` of a stored key answers and `curr_items` is back ("serve"). memcached refuses a restart
within the stop's wall-clock second, so both wait for the next second before starting.

    python -m bench.restart [--mb 1024] [--out restart.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

VALUE = b"v" * 100


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _connect(port: int, deadline: float) -> socket.socket:
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), 1)
            s.settimeout(120)          # a busy daemon may take its time over a batch
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _cmd(s: socket.socket, data: bytes, end: bytes) -> bytes:
    s.sendall(data)
    buf = b""
    while not buf.endswith(end):
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def _stat(s: socket.socket, name: bytes) -> int:
    m = re.search(rb"STAT %s (\d+)" % name, _cmd(s, b"stats\r\n", b"END\r\n"))
    return int(m.group(1)) if m else -1


def _curr_items(s: socket.socket) -> int:
    return _stat(s, b"curr_items")


def _fill(s: socket.socket, limit_s: float) -> int:
    """Pipelined noreply sets until the first evictions (the cache is full); the item count."""
    n, deadline = 0, time.monotonic() + limit_s
    while time.monotonic() < deadline:
        batch = b"".join(b"set key:%09d 0 0 100 noreply\r\n%s\r\n" % (n + i, VALUE)
                         for i in range(20000))
        s.sendall(batch)
        n += 20000
        if n % 100000 == 0 and _stat(s, b"evictions") > 0:
            break
    return _curr_items(s)


def run_one(name: str, argv: list[str], mem_file: str, port: int, fill_s: float) -> dict:
    for path in (mem_file, mem_file + ".meta"):
        if os.path.exists(path):
            os.unlink(path)
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        s = _connect(port, time.monotonic() + 60)
        items = _fill(s, fill_s)
        probe = b"key:%09d" % (items - 1)      # among the newest: never evicted
        s.close()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGUSR1)
        proc.wait(120)
        stop = time.monotonic() - t0
        time.sleep(1.05 - time.time() % 1 + 0.02)    # into the next wall-clock second
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        s = _connect(port, time.monotonic() + 120)
        reply = _cmd(s, b"get %s\r\n" % probe, b"END\r\n")
        serve = time.monotonic() - t0
        back = _curr_items(s)
        s.close()
        return {"daemon": name, "items": items, "restored": back, "stop_s": round(stop, 3),
                "serve_s": round(serve, 3), "probe_hit": reply.startswith(b"VALUE")}
    finally:
        proc.kill()
        proc.wait()
        for path in (mem_file, mem_file + ".meta"):
            if os.path.exists(path):
                os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=1024, help="-m for both daemons (default 1024)")
    ap.add_argument("--fill-seconds", type=float, default=300, help="longest fill per daemon")
    ap.add_argument("--out", help="also write the results as JSON here")
    args = ap.parse_args(argv)
    base = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    work = tempfile.mkdtemp(prefix="bench-restart-", dir=base)
    rows = []
    try:
        port = _free_port()
        mem = os.path.join(work, "ours")
        rows.append(run_one("memcache_py", [sys.executable, "-m", "memcache_py", "-p", str(port),
                                            "-U", "0", "-m", str(args.mb), "-e", mem],
                            mem, port, args.fill_seconds))
        memcached = shutil.which("memcached")
        if memcached:
            port = _free_port()
            mem = os.path.join(work, "memcached")
            rows.append(run_one("memcached", [memcached, "-u", "root", "-U", "0", "-t", "1",
                                              "-l", "127.0.0.1", "-p", str(port),
                                              "-m", str(args.mb), "-e", mem],
                                mem, port, args.fill_seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'daemon':<12} {'items':>9} {'restored':>9} {'stop s':>7} {'serve s':>8}")
    for r in rows:
        print(f"{r['daemon']:<12} {r['items']:>9} {r['restored']:>9} {r['stop_s']:>7} "
              f"{r['serve_s']:>8}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"mb": args.mb, "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
