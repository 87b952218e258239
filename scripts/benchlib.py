"""Shared helpers for the benchmark suites run by ``scripts/bench.py``.

Each suite prints one JSON object per line: {"suite", "case", "metric", "value", "unit"}
(plus optional extra fields such as "n" or "peer"). Quote medians; compare with a peer
measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Reporter:
    suite: str

    def emit(self, case: str, metric: str, value: float, unit: str, **extra: Any) -> None:
        record = {"suite": self.suite, "case": case, "metric": metric, "value": value, "unit": unit}
        record.update(extra)
        print(json.dumps(record), flush=True)


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays pure JSON lines."""
    print(message, file=sys.stderr, flush=True)


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeat`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(samples), 3)


async def scheduled_latencies(
    request: Callable[[int], Awaitable[object]], rate: float, seconds: float
) -> list[float]:
    """Open loop: start request ``i`` at its scheduled time ``i / rate`` whether or not the
    earlier ones finished, and time each from its schedule (no coordinated omission)."""
    latencies: list[float] = []

    async def one(i: int, scheduled: float) -> None:
        await request(i)
        latencies.append((time.perf_counter() - scheduled) * 1000)

    t0 = time.perf_counter() + 0.2
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return latencies
