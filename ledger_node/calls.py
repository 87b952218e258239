"""One worker runs every JSON-RPC call, in slices, so the block producer never waits on them.

The node is one asyncio thread (pyrevm holds the GIL and its EVM is not thread-safe), so a
call that runs is a call the producer waits for. Calls therefore never run in the request
handlers: each request (a call or a batch) becomes a job in this queue, and one worker task
runs the jobs a unit at a time (a call, or one probe of an ``eth_estimateGas``), handing the
loop back after every ``SLICE_S``. With any number of clients the producer (and every socket)
waits for at most one slice plus one unit, and a unit is bounded by the gas cap.

A loop that awaits I/O in the middle of its work (the replicated producer's etcd round trips)
``hold``s the queue meanwhile: otherwise each of its awaits could cost it one more turn.

Fair shares: clients (by address) take turns, and within a client its jobs take turns; a
turn runs units of one job until ``SLICE_S`` has passed. So a batch of a thousand calls, or a
client with many connections, delays others by one slice per round, not by its whole length.
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


@dataclass
class _Job:
    reqs: list[Any]
    done: asyncio.Future[list[dict[str, Any]]]
    ctx: contextvars.Context
    outs: list[dict[str, Any]] = field(default_factory=list)
    current: Steps | None = None


class CallQueue:
    def __init__(self, steps: Callable[[Any], Steps]) -> None:
        self._steps = steps  # one request -> its units, ending with the JSON-RPC reply
        self._clients: OrderedDict[str, deque[_Job]] = OrderedDict()
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
        self._clients.setdefault(client, deque()).append(job)
        self._ready.set()
        return await job.done

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        while True:
            await self._ready.wait()
            while self._clients:
                await self._free.wait()
                client, jobs = self._clients.popitem(last=False)
                job = jobs.popleft()
                started = time.perf_counter()
                finished = self._turn(job)
                if not finished:
                    jobs.append(job)  # its next turn comes after the client's other jobs
                if jobs:
                    self._clients[client] = jobs  # and after every other client's turn
                long_turn = time.perf_counter() - started > 2 * SLICE_S
                # The producer and the sockets run here.
                await asyncio.sleep(AFTER_LONG_TURN_S if long_turn else 0)
            self._ready.clear()

    def _turn(self, job: _Job) -> bool:
        """Units of ``job`` for one slice; True once it is answered (or failed)."""
        started = time.perf_counter()
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
