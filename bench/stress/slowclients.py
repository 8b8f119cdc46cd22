"""The slow clients: connections that make a server hold items for them.

* A slow reader sends gets for keys of its worker and never reads a reply. The
  server must keep (pin) what it has queued for it, stop reading from it once its output backs
  up, and go on serving everyone else; memory must stay bounded.
* A slow writer sends a `set` header and half the value, stalls, then sends the rest and reads
  the value back (verified like any other). The server has reserved the item's chunk at the
  header: it must neither evict nor reuse it meanwhile, and must free it if the client leaves.

Both run inside a worker's event loop and use its counters; both stop when the worker is done.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from bench.stress.client import (CONNECTION_ERRORS, CRLF, ServerErrorReply, TextConnection,
                                 encode_set_header)
from bench.stress.verifier import Verdict, check_value
from bench.stress.workload import flags_for, make_key, make_value

if TYPE_CHECKING:
    from bench.stress.worker import LoadWorker

SLOW_READER_MAX_GETS = 200_000       # a slow reader stops sending after this many gets ...
SLOW_READER_BUFFER = 256 * 1024      # ... or once this much of its output is stuck unsent
SLOW_READER_RCVBUF = 4096            # tiny receive window: replies back up into the server


async def slow_reader(worker: LoadWorker) -> None:
    """Sends gets for keys drawn uniformly (so many are cold, near the LRU tail) and never
    reads: the server must hold (pin) what it has queued for us, stop reading us, and serve
    everyone else meanwhile."""
    try:
        conn = await TextConnection.open(worker.host, worker.port, rcvbuf=SLOW_READER_RCVBUF,
                                         tls_ca=worker.opts.tls_ca)
    except (OSError, TimeoutError):
        worker.c["connect_errors"] += 1
        return
    rng = random.Random(worker.opts.seed * 31 + worker.wid)
    slice_ = range(worker.keys.part, worker.opts.keys, worker.keys.parts)
    try:
        while not worker.done() and worker.c["slow_reader_gets"] < SLOW_READER_MAX_GETS:
            conn.send(b"".join(b"get " + make_key(worker.prefix, rng.choice(slice_)) + CRLF
                               for _ in range(16)))
            worker.c["slow_reader_gets"] += 16
            if conn.write_buffer_size() > SLOW_READER_BUFFER:
                break
            await asyncio.sleep(0.01)
        await worker.sleep_unless_done(worker.opts.duration + 3600)
    except CONNECTION_ERRORS:
        worker.c["conn_errors"] += 1
    finally:
        conn.close()


async def slow_writer(worker: LoadWorker, n: int) -> None:
    """Sets values in two halves with a stall between them, then reads each one back."""
    for i in range(1_000_000):
        if worker.done():
            return
        try:
            conn = await TextConnection.open(worker.host, worker.port,
                                             tls_ca=worker.opts.tls_ca)
        except (OSError, TimeoutError):
            worker.c["connect_errors"] += 1
            await worker.sleep_unless_done(0.5)
            continue
        try:
            await _one_slow_write(worker, conn, n, i)
        except ServerErrorReply:
            worker.c["server_errors"] += 1
        except CONNECTION_ERRORS as exc:
            worker.count_drop(exc)
        finally:
            conn.close()


async def _one_slow_write(worker: LoadWorker, conn: TextConnection, n: int, i: int) -> None:
    key = worker.prefix + b"w%02x%02x%06x" % (worker.wid & 0xFF, n & 0xFF, i)
    version = i + 1
    value = make_value(key, version, worker.sizes())
    half = len(value) // 2
    conn.send(encode_set_header(key, flags_for(version), 0, len(value)) + value[:half])
    worker.c["slow_writes"] += 1
    await worker.sleep_unless_done(worker.opts.stall)
    if worker.done():
        worker.c["slow_writes_abandoned"] += 1
        return
    conn.send(value[half:] + CRLF + b"get " + key + CRLF)
    async with asyncio.timeout(worker.opts.reply_timeout):
        if await worker.read_set(conn):
            worker.c["slow_writes_stored"] += 1
        for got_key, flags, data in await conn.read_values():
            verdict, got = check_value(key, data, flags)
            if verdict is Verdict.OK and (got_key != key or got != version):
                verdict = Verdict.WRONG_KEY if got_key != key else Verdict.STALE
            if verdict is not Verdict.OK:
                worker.problem(verdict, got_key, data, "slow writer read-back")
