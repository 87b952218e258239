"""The node's call queue shares time, not turns, between clients (ledger_node/calls.py).

Threat: a client sending gas-capped ``eth_call``s (one unit: tens of milliseconds) got one
turn per round, and so did a client of cheap calls: the cheap client then ran one call per
expensive unit of the other, and a gateway's fetches fell to a few per second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ledger_node.calls import CallQueue, Steps

HEAVY_UNIT_S = 0.02


def _steps(request: Any) -> Steps:
    if request == "heavy":
        deadline = time.thread_time() + HEAVY_UNIT_S
        while time.thread_time() < deadline:  # CPU-bound, as the EVM's units are
            pass
    yield
    return {"result": request}


async def _light_calls_during_a_heavy_flood(n: int) -> tuple[int, list[Any]]:
    queue = CallQueue(_steps)
    heavy_units = 0
    stop = asyncio.Event()

    async def heavy() -> None:
        nonlocal heavy_units
        while not stop.is_set():
            await queue.run(["heavy"], client="127.0.0.2")
            heavy_units += 1

    floods = [asyncio.create_task(heavy()) for _ in range(4)]
    await asyncio.sleep(0.1)  # the flood is under way (and owed nothing) before we start
    before = heavy_units
    replies = await asyncio.gather(*(queue.run([i], client="127.0.0.1") for i in range(n)))
    during = heavy_units - before
    stop.set()
    await asyncio.gather(*floods)
    queue.stop()
    return during, replies


def test_a_client_of_cheap_calls_gets_as_much_time_as_a_flood_of_expensive_ones() -> None:
    during, replies = asyncio.run(_light_calls_during_a_heavy_flood(200))
    assert [r[0]["result"] for r in replies] == list(range(200))
    # Counting turns, 200 cheap calls waited for ~200 heavy units (4 s); sharing time, the
    # cheap client's calls all fit in the slices owed it after a few heavy units.
    assert during <= 10, f"{during} heavy units ran while 200 cheap calls waited"


def test_an_idle_client_banks_no_credit() -> None:
    order: list[str] = []

    def steps(request: Any) -> Steps:
        order.append(request)
        yield from _steps("heavy")
        return {"result": request}

    async def scenario() -> int:
        queue = CallQueue(steps, long_call_percent=100)  # time shares only
        # The light client idles while the heavy client runs 10 units; on its return it must
        # not monopolise the worker for the heavy client's whole past time.
        for _ in range(10):
            await queue.run(["heavy"], client="heavy")

        async def light_calls() -> list[list[dict[str, Any]]]:
            return await asyncio.gather(*(queue.run(["light"], client="light") for _ in range(10)))

        light = asyncio.create_task(light_calls())
        await asyncio.sleep(0)
        await queue.run(["heavy"], client="heavy")
        await light
        queue.stop()
        return order[10:].index("heavy")  # light units that ran before heavy's next one

    # Starting at the current clock, the returning client gets about one turn before the
    # other runs again, not ten (the time the heavy client ran while it was away).
    assert asyncio.run(scenario()) <= 2


def test_long_calls_are_rationed_even_on_an_idle_node() -> None:
    """Nothing interrupts a unit: while a 300 ms call runs, the producer and every socket
    wait. So one address's long units take at most ``long_call_percent`` of the time."""

    async def heavy_units_in(seconds: float) -> int:
        queue = CallQueue(_steps, long_call_percent=10)
        units = 0
        stop_at = time.perf_counter() + seconds

        async def heavy() -> None:
            nonlocal units
            while time.perf_counter() < stop_at:
                await queue.run(["heavy"], client="127.0.0.2")
                units += 1

        await asyncio.gather(*(heavy() for _ in range(4)))
        queue.stop()
        return units

    # 1 s at 10 %: about 100 ms of 20 ms units (+1 begun at the start), not ~50 of them.
    assert asyncio.run(heavy_units_in(1.0)) <= 8
