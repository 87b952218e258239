"""The node's clock, and how far ahead of it a block's timestamp may run.

Block timestamps are chain time: contracts judge consent windows by them. A replica refuses
a block stamped more than ``max_ahead_s`` seconds after its own clock (one sealer whose clock
jumps forward would otherwise move chain time for good, since a timestamp never goes back),
and one stamped before its parent. The producer stamps with its own clock, never below the
parent's timestamp.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

# geth's allowance for a block from the future (allowedFutureBlockTimeSeconds): NTP keeps
# honest machines within milliseconds of each other, while consent windows are hours or days,
# so 15 s is far above honest drift and far below anything that shortens a consent.
DEFAULT_MAX_AHEAD_S = 15
# Tests only: shifts this node's clock by this many seconds (a sealer whose clock is wrong).
CLOCK_OFFSET_ENV = "ALLIANCE_CLOCK_OFFSET_S"


@dataclass(frozen=True)
class Clock:
    offset_s: float = 0.0
    max_ahead_s: int = DEFAULT_MAX_AHEAD_S

    @classmethod
    def from_env(cls, max_ahead_s: int | None = None) -> Clock:
        raw = os.environ.get(CLOCK_OFFSET_ENV, "")
        try:
            offset = float(raw) if raw else 0.0
        except ValueError:
            raise ValueError(f"{CLOCK_OFFSET_ENV}={raw!r} is not a number of seconds") from None
        return cls(offset, DEFAULT_MAX_AHEAD_S if max_ahead_s is None else max_ahead_s)

    def now(self) -> float:
        return time.time() + self.offset_s

    def too_far_ahead(self, timestamp: int) -> float | None:
        """How many seconds ``timestamp`` runs ahead of this clock, if beyond the tolerance."""
        ahead = timestamp - self.now()
        return ahead if ahead > self.max_ahead_s else None
