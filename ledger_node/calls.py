"""One worker runs every JSON-RPC call, in slices, so the block producer never waits on them.

The node is one asyncio thread (pyrevm holds the GIL and its EVM is not thread-safe), so a
call that runs is a call the producer waits for. Calls therefore never run in the request
handlers: each request (a call or a batch) becomes a job in this queue, and one worker task
runs the jobs a unit at a time (a call, or one probe of an ``eth_estimateGas``), handing the
loop back after every ``SLICE_S``. With any number of clients the producer (and every socket)
waits for at most one slice plus one unit, and a unit is bounded by the gas cap.

A loop that awaits I/O in the middle of its work (the replicated producer's etcd round trips)
``hold``s the queue meanwhile: otherwise each of its awaits could cost it one more turn.

Fair shares of time, not of turns: each client (by address) has a virtual clock, the seconds
of work run for it; the next turn goes to the waiting client whose clock is lowest, and runs
its jobs (taking turns among them) until ``SLICE_S`` has passed or it has none left. A client
that runs one expensive unit (an ``eth_call`` at the gas cap) is then owed nothing until the
others have had as much time: counting turns instead would give a client of cheap calls one
call per expensive unit of the other. A client that was idle starts at the clock of the
last turn, so idling banks no credit.

Long units are rationed besides. Nothing can interrupt a unit, so while one runs for 300 ms
(a keccak loop at the gas cap) the producer, the sockets and every other client wait 300 ms.
Time shares alone let a flood of such calls stall everyone half the time. So after a turn
that took more than ``LONG_TURN_CPU_S`` of CPU, its client waits (even on an idle node) until
its long turns come to at most ``long_call_percent`` of the time: a 300 ms unit at 10 % bars
the client for 2.7 s. An honest gateway's calls take well under a millisecond and are never
rationed; a rare heavy audit query is, briefly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

Steps = Generator[None, None, dict[str, Any]]
SLICE_S = 0.002
# After a long turn (an expensive call), the worker steps aside for this long rather than
# for one loop iteration: a request that arrived meanwhile needs a few iterations (read,
# parse, enqueue) and a replica's etcd round trips one each; with a bare sleep(0) every one
# of those would wait for another long turn.
AFTER_LONG_TURN_S = 0.002
LONG_TURN_CPU_S = 0.015  # CPU time (not wall: a preempted cheap turn is not long)
MAX_REMEMBERED = 1024  # idle clients whose clocks are kept before pruning


@dataclass
class _Job:
    reqs: list[Any]
    done: asyncio.Future[list[dict[str, Any]]]
    ctx: contextvars.Context
    outs: list[dict[str, Any]] = field(default_factory=list)
    current: Steps | None = None


class CallQueue:
    def __init__(self, steps: Callable[[Any], Steps], long_call_percent: int = 10) -> None:
        if not 1 <= long_call_percent <= 100:
            raise ValueError("long_call_percent must be 1..100")
        self._steps = steps  # one request -> its units, ending with the JSON-RPC reply
        self._long_factor = 100 / long_call_percent - 1  # barred seconds per long second
        self._barred: dict[str, float] = {}  # client -> perf_counter() until it may run
        self._clients: OrderedDict[str, deque[_Job]] = OrderedDict()  # waiting, with jobs
        self._used: dict[str, float] = {}  # virtual clock per client: seconds run for it
        self._clock = 0.0  # the virtual clock of the last turn's client
        self._ready = asyncio.Event()
        self._free = asyncio.Event()  # cleared while someone holds the queue
        self._free.set()
        self._holds = 0
        self._worker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """No new turn starts inside this block (a turn under way finishes first)."""
        self._holds += 1
        self._free.clear()
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                self._free.set()

    async def run(self, reqs: list[Any], client: str = "") -> list[dict[str, Any]]:
        """The replies to ``reqs``, in order, run in the caller's context (contextvars)."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        job = _Job(reqs, asyncio.get_running_loop().create_future(), contextvars.copy_context())
        if client not in self._clients:
            self._clients[client] = deque()
            self._used[client] = max(self._used.get(client, 0.0), self._clock)
        self._clients[client].append(job)
        self._ready.set()
        return await job.done

    def charge(self, client: str, cpu_s: float) -> None:
        """Count work done for ``client`` outside the queue (parsing its request, encoding
        the reply) as time run for it, and a long stretch of it as a long unit."""
        if client in self._clients:  # an idle client restarts at the clock anyway: keep none
            self._used[client] += cpu_s
        self._ration(client, cpu_s)

    def _ration(self, client: str, cpu_s: float) -> None:
        if cpu_s > LONG_TURN_CPU_S:
            until = time.perf_counter() + cpu_s * self._long_factor
            self._barred[client] = max(self._barred.get(client, 0.0), until)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        while True:
            await self._ready.wait()
            while self._clients:
                await self._free.wait()
                client = self._next_client()
                if client is None:  # only rationed clients wait: until one may run again
                    await self._sleep_until(min(self._barred[c] for c in self._clients))
                    continue
                self._clock = self._used[client]
                started, cpu = time.perf_counter(), time.thread_time()
                self._turn(self._clients[client])
                ran = time.perf_counter() - started
                self._used[client] += ran
                self._ration(client, time.thread_time() - cpu)
                if not self._clients[client]:
                    del self._clients[client]
                    self._forget_idle()
                # The producer and the sockets run here.
                await asyncio.sleep(AFTER_LONG_TURN_S if ran > 2 * SLICE_S else 0)
            self._ready.clear()

    def _next_client(self) -> str | None:
        """The waiting client with the lowest clock among those not rationed now."""
        now = time.perf_counter()
        free = [c for c in self._clients if self._barred.get(c, 0.0) <= now]
        return min(free, key=self._used.__getitem__) if free else None

    async def _sleep_until(self, when: float) -> None:
        """Until ``when``, or until a new job arrives (it may be another client's)."""
        self._ready.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), max(0.0, when - time.perf_counter()))

    def _turn(self, jobs: deque[_Job]) -> None:
        """Units of one client's jobs, taking turns among them, for one slice."""
        started = time.perf_counter()
        while jobs:
            job = jobs.popleft()
            if not self._slice(job, started):
                jobs.append(job)  # its next unit comes after the client's other jobs
            if time.perf_counter() - started >= SLICE_S:
                return

    def _slice(self, job: _Job, started: float) -> bool:
        """Units of ``job`` until the slice begun at ``started`` is over; True once it is
        answered (or failed)."""
        while not job.done.cancelled():  # a client that went away: drop the rest of its calls
            try:
                finished = job.ctx.run(self._unit, job)
            except BaseException as exc:  # a bug in a method: fail this job, keep serving
                job.done.set_exception(exc)
                return True
            if finished:
                job.done.set_result(job.outs)
                return True
            if time.perf_counter() - started >= SLICE_S:
                return False
        return True

    def _forget_idle(self) -> None:
        """Drop the clocks of idle clients that are owed nothing (they would restart at the
        current clock anyway), so a stream of new addresses cannot grow the table."""
        if len(self._used) > MAX_REMEMBERED:
            self._used = {
                c: used
                for c, used in self._used.items()
                if c in self._clients or used > self._clock
            }
        if len(self._barred) > MAX_REMEMBERED:
            now = time.perf_counter()
            self._barred = {c: until for c, until in self._barred.items() if until > now}

    def _unit(self, job: _Job) -> bool:
        """Run one unit of ``job``; True once every request has its reply."""
        if job.current is None:
            job.current = self._steps(job.reqs[len(job.outs)])
        try:
            next(job.current)
        except StopIteration as stop:
            job.outs.append(stop.value)
            job.current = None
            return len(job.outs) == len(job.reqs)
        return False
