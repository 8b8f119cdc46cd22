"""One load process: one event loop (uvloop when installed) running many pipelined connections.

Worker `wid` of `W` owns the keys whose index is `wid` modulo `W` (workload.KeyChooser), so
its KeyLedger is exact: every hit is checked byte for byte (verifier.check_value) and against
the versions the ledger still allows. Besides the ordinary connections it runs the slow clients:
readers that send gets and never read a reply, and writers that stop in the middle of a value.

Talks to the parent through one multiprocessing queue:
    ("ready", wid, None)  all connections open; then it waits for the `go` event
    ("progress", wid, snapshot)  every REPORT_INTERVAL: cumulative counters and CPU time
    ("final", wid, result)  counters, latency histograms and the first problems seen
    ("crash", wid, traceback)
Every loop ends at the deadline, after the op budget, or when the parent sets `stop`. The
slow clients live in bench/stress/slowclients.py.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback

from bench.stress.client import (CONNECTION_ERRORS, CRLF, ProtocolMismatch, ServerErrorReply,
                                 TextConnection, encode_set)
from bench.stress.latency import LatencyHistogram
from bench.stress.options import StressOptions
from bench.stress.slowclients import slow_reader, slow_writer
from bench.stress.verifier import CORRUPTION, KeyLedger, Verdict, check_value
from bench.stress.workload import (KeyChooser, SizeSchedule, ValueSizes, WeightedChoice, flags_for,
                                   make_key, make_value, parse_mix, parse_size, parse_ttls)

GET, SET, DELETE = 0, 1, 2
OP_NAMES = {"get": GET, "set": SET, "delete": DELETE}
REPORT_INTERVAL = 0.5
MAX_PROBLEMS = 20                    # problems kept with details; all are counted

COUNTERS = ("ops", "gets", "get_keys", "hits", "misses", "sets", "stored", "not_stored",
            "set_oom", "too_large", "deletes", "deleted", "not_found", "server_errors",
            "corrupt", "stale", "protocol_errors", "conn_errors", "connect_errors",
            "timeouts", "slow_reader_gets", "slow_writes", "slow_writes_stored",
            "slow_writes_abandoned")

STORED, NOT_STORED = b"STORED\r\n", b"NOT_STORED\r\n"
DELETED, NOT_FOUND = b"DELETED\r\n", b"NOT_FOUND\r\n"


class LoadWorker:
    """The state of one load process: generators, ledger, counters, latency histograms."""

    def __init__(self, opts: StressOptions, wid: int, host: str, port: int, queue, go, stop):
        self.opts, self.wid, self.host, self.port = opts, wid, host, port
        self.queue, self.go_event, self.stop_event = queue, go, stop
        self.prefix = opts.key_prefix.encode()
        rng = random.Random(opts.seed * 7919 + wid)
        self.keys = KeyChooser(opts.keys, wid, opts.workers, opts.key_dist, opts.zipf_s,
                               seed=opts.seed * 104729 + wid)
        sizes_kw = dict(key_len=len(self.prefix) + 8, chunk_size=opts.chunk_size,
                        factor=opts.factor, item_max=parse_size(opts.item_max))
        self.sizes = (SizeSchedule(opts.size_shift, rng, **sizes_kw) if opts.size_shift
                      else ValueSizes(opts.value_size, rng, **sizes_kw))
        self.mix = WeightedChoice([(OP_NAMES[n], w) for n, w in parse_mix(opts.mix)], rng)
        self.ttls = WeightedChoice(parse_ttls(opts.ttl), rng)
        self.ledger = KeyLedger(self.keys.local)
        self.c = dict.fromkeys(COUNTERS, 0)
        self.verdicts: dict[str, int] = {}
        self.problems: list[dict] = []
        self.latency = {"get": LatencyHistogram(), "set": LatencyHistogram(),
                        "delete": LatencyHistogram()}
        self.budget = _share(opts.ops, opts.workers, wid) if opts.ops else None
        self.issued = 0
        self.stopping = False
        self.deadline = float("inf")

    # ------------------------------------------------------------------ lifecycle

    async def main(self) -> None:
        conns = await self._open_all(self.opts.conns)
        self.queue.put(("ready", self.wid, None))
        await self._wait_for_go()
        if self.opts.duration > 0:
            self.deadline = time.monotonic() + self.opts.duration
        watcher = asyncio.create_task(self._watch_stop())
        reporter = asyncio.create_task(self._report_progress())
        slow = [asyncio.create_task(slow_reader(self)) for _ in range(
            _share(self.opts.slow_readers, self.opts.workers, self.wid))]
        slow += [asyncio.create_task(slow_writer(self, i)) for i in range(
            _share(self.opts.slow_writers, self.opts.workers, self.wid))]
        await asyncio.gather(*(self._run_connection(i, c) for i, c in enumerate(conns)))
        self.stopping = True
        if slow:
            await asyncio.wait(slow, timeout=self.opts.reply_timeout)
        for task in (watcher, reporter, *slow):
            task.cancel()
        self.queue.put(("final", self.wid, self._result()))

    async def _open_all(self, n: int) -> list[TextConnection | None]:
        async def one():
            try:
                return await TextConnection.open(self.host, self.port, tls_ca=self.opts.tls_ca)
            except (OSError, TimeoutError):
                self.c["connect_errors"] += 1
                return None
        return list(await asyncio.gather(*(one() for _ in range(n))))

    async def _wait_for_go(self) -> None:
        for _ in range(6000):              # 60 s at most
            if self.go_event.is_set() or self.stop_event.is_set():
                return
            await asyncio.sleep(0.01)

    async def _watch_stop(self) -> None:
        while not self.stopping:
            if self.stop_event.is_set():
                self.stopping = True
            await asyncio.sleep(0.05)

    def done(self) -> bool:
        return (self.stopping or time.monotonic() >= self.deadline
                or (self.budget is not None and self.issued >= self.budget))

    async def sleep_unless_done(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.done() and time.monotonic() < end:
            await asyncio.sleep(min(0.05, max(0.0, end - time.monotonic())))

    # ------------------------------------------------------------------ reports

    def _snapshot(self) -> dict:
        return {"cpu": time.process_time(), "wall": time.monotonic(), **self.c,
                "verdicts": dict(self.verdicts)}

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(REPORT_INTERVAL)
            self.queue.put(("progress", self.wid, self._snapshot()))

    def _result(self) -> dict:
        return {**self._snapshot(), "problems": self.problems,
                "latency": {k: h.to_dict() for k, h in self.latency.items()}}

    def problem(self, verdict: Verdict, key: bytes, data: bytes, detail: str = "") -> None:
        name = verdict.name.lower()
        self.verdicts[name] = self.verdicts.get(name, 0) + 1
        if verdict in CORRUPTION:
            self.c["corrupt"] += 1
        elif verdict is Verdict.STALE:
            self.c["stale"] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"verdict": name, "key": key.decode("latin-1"),
                                  "length": len(data), "head": data[:40].decode("latin-1"),
                                  "detail": detail, "worker": self.wid})

    # ------------------------------------------------------------------ the ordinary load

    async def _run_connection(self, cid: int, conn: TextConnection | None) -> None:
        backoff, next_send = 0.05, time.monotonic()
        interval = self._batch_interval()
        while not self.done():
            if conn is None:
                conn = await self._reconnect(backoff)
                backoff = 0.05 if conn else min(1.0, backoff * 2)
                continue
            if interval:
                next_send += interval
                await self.sleep_unless_done(next_send - time.monotonic())
                if self.done():
                    break
            batch, payload = self._make_batch()
            if not batch:
                break
            conn = await self._exchange(conn, batch, payload)
        if conn is not None:
            conn.close()

    def _batch_interval(self) -> float:
        if not self.opts.rate:
            return 0.0
        per_conn = self.opts.rate / (self.opts.workers * self.opts.conns)
        return self.opts.pipeline / per_conn

    async def _reconnect(self, backoff: float) -> TextConnection | None:
        await self.sleep_unless_done(backoff)
        if self.done():
            return None
        try:
            return await TextConnection.open(self.host, self.port, tls_ca=self.opts.tls_ca)
        except (OSError, TimeoutError):
            self.c["connect_errors"] += 1
            return None

    async def _exchange(self, conn: TextConnection, batch: list, payload: bytes):
        """Send one batch, read its replies; returns the connection, or None if it was dropped."""
        sent = time.perf_counter()
        try:
            conn.send(payload)
            async with asyncio.timeout(self.opts.reply_timeout):
                for i, op in enumerate(batch):
                    await self._read_reply(conn, op, sent)
                    batch[i] = None
            return conn
        except CONNECTION_ERRORS as exc:
            self.count_drop(exc)
            self._abandon(batch)
            conn.close()
            return None

    def count_drop(self, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            self.c["timeouts"] += 1
        elif isinstance(exc, ProtocolMismatch):
            self.c["protocol_errors"] += 1
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append({"verdict": "protocol", "detail": str(exc),
                                      "worker": self.wid})
        else:
            self.c["conn_errors"] += 1

    def _abandon(self, batch: list) -> None:
        """Writes whose reply never came: their fate is unknown, so the ledger keeps its floor."""
        for op in batch:
            if op is not None and op[0] != GET:
                self.ledger.end_write(op[1], applied=False)

    def _make_batch(self) -> tuple[list, bytes]:
        n = self.opts.pipeline
        if self.budget is not None:
            n = max(0, min(n, self.budget - self.issued))
        self.issued += n
        parts, batch = [], []
        for _ in range(n):
            kind = self.mix()
            if kind == GET:
                batch.append(self._get_op(parts))
            else:
                index = self.keys.next_index()
                slot = self.keys.local_slot(index)
                key = make_key(self.prefix, index)
                version = self.ledger.begin_write(slot)
                if kind == SET:
                    value = make_value(key, version, self.sizes())
                    parts.append(encode_set(key, flags_for(version), self.ttls(), value))
                else:
                    parts.append(b"delete " + key + CRLF)
                batch.append((kind, slot))
        return batch, b"".join(parts)

    def _get_op(self, parts: list) -> tuple:
        wanted: dict[bytes, tuple[int, int]] = {}
        for _ in range(self.opts.multiget):
            index = self.keys.next_index()
            slot = self.keys.local_slot(index)
            wanted[make_key(self.prefix, index)] = (slot, self.ledger.floor[slot])
        parts.append(b"get " + b" ".join(wanted) + CRLF)
        return (GET, wanted)

    async def _read_reply(self, conn: TextConnection, op: tuple, sent: float) -> None:
        kind = op[0]
        if kind == GET:
            await self._read_get(conn, op[1])
            self.latency["get"].add(time.perf_counter() - sent)
        elif kind == SET:
            self.c["sets"] += 1
            applied = await self.read_set(conn)
            self.ledger.end_write(op[1], applied)
            self.latency["set"].add(time.perf_counter() - sent)
        else:
            self.c["deletes"] += 1
            applied = await self._read_delete(conn)
            self.ledger.end_write(op[1], applied)
            self.latency["delete"].add(time.perf_counter() - sent)
        self.c["ops"] += 1

    async def _read_get(self, conn: TextConnection, wanted: dict) -> None:
        self.c["gets"] += 1
        self.c["get_keys"] += len(wanted)
        try:
            values = await conn.read_values()
        except ServerErrorReply:
            self.c["server_errors"] += 1
            return
        seen = set()
        for key, flags, data in values:
            self._check_hit(key, flags, data, wanted, seen)
        self.c["misses"] += len(wanted) - len(seen)

    def _check_hit(self, key: bytes, flags: int, data: bytes, wanted: dict, seen: set) -> None:
        entry = wanted.get(key)
        if entry is None or key in seen:
            self.problem(Verdict.WRONG_KEY, key, data, "key not asked for, or returned twice")
            return
        seen.add(key)
        self.c["hits"] += 1
        verdict, version = check_value(key, data, flags)
        if verdict is Verdict.OK:
            verdict = self.ledger.judge(entry[1], version)
        if verdict is not Verdict.OK:
            self.problem(verdict, key, data, f"version {version}, floor {entry[1]}, flags {flags}")

    async def read_set(self, conn: TextConnection) -> bool:
        try:
            line = await conn.read_status((STORED, NOT_STORED))
        except ServerErrorReply as err:
            if err.out_of_memory:
                self.c["set_oom"] += 1
            elif b"too large" in err.line:
                self.c["too_large"] += 1
            else:
                self.c["server_errors"] += 1
            return False
        if line == STORED:
            self.c["stored"] += 1
            return True
        self.c["not_stored"] += 1
        return False

    async def _read_delete(self, conn: TextConnection) -> bool:
        try:
            line = await conn.read_status((DELETED, NOT_FOUND))
        except ServerErrorReply:
            self.c["server_errors"] += 1
            return False
        self.c["deleted" if line == DELETED else "not_found"] += 1
        return True


def _share(total: int, parts: int, index: int) -> int:
    """Worker `index`'s share when `total` is split as evenly as possible over `parts`."""
    return total // parts + (1 if index < total % parts else 0)


def _loop_factory():
    try:
        import uvloop
        return uvloop.new_event_loop
    except ImportError:
        return None


def worker_main(opts: StressOptions, wid: int, host: str, port: int, queue, go, stop) -> None:
    """Entry point of a load process (multiprocessing target)."""
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(LoadWorker(opts, wid, host, port, queue, go, stop).main())
    except BaseException:                      # report, never hang the parent
        queue.put(("crash", wid, traceback.format_exc()))
