"""Rate limits and quotas: a sliding window per (rule, subject), kept in the index DB.

A rule allows at most ``limit`` units (requests, or bytes) per subject in any ``window_s``
seconds. Hits live in the ``rate_hits`` table, so a limit holds across workers and
restarts; hits older than their window are deleted on every hit of that rule, so the table
holds at most what the limits allow (bounded memory). Past the limit the caller gets
:class:`RateLimited`, answered as 429 problem+json with ``Retry-After``.

A refusal is remembered in memory until the soonest moment anything frees up: a client
hammering past its limit is then refused without touching the database (each hit is a
write transaction), so a flood costs the gateway little.

Any route may use it: ``services.limits.hit("break_glass_per_person", person)`` charges one
break-glass read to ``person`` under ``ApiSettings.rate_limits.break_glass_per_person``.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, insert, select

from sharing_api.api.core.config import RateLimit, RateLimits
from sharing_api.api.errors import ApiError
from sharing_api.index.schema import rate_hits


class RateLimited(ApiError):
    """Over a rate limit or quota: 429, retry after ``retry_after`` seconds."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(429, detail, "Too Many Requests", retry_after=retry_after)
        self.retry_after = retry_after


class UnknownRule(KeyError):
    """A rule name that ``RateLimits`` does not define (a programming error)."""


class Limiter:
    def __init__(
        self, engine: Engine, limits: RateLimits, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.clock = clock  # wall clock: shared by every worker
        # (rule, subject) -> (until, the refusal's text, the weight refused): nothing that
        # heavy can pass before ``until``
        self._refused: dict[tuple[str, str], tuple[float, str, int]] = {}

    def rule(self, name: str) -> RateLimit:
        found = getattr(self.limits, name, None)
        if not isinstance(found, RateLimit):
            raise UnknownRule(name)
        return found

    def hit(
        self,
        name: str,
        subject: str,
        weight: int = 1,
        what: str = "requests",
        rule: RateLimit | None = None,
    ) -> None:
        """Charge ``weight`` units to ``subject`` under rule ``name``, or raise
        :class:`RateLimited` (charging nothing) if that would pass the limit. ``rule`` gives
        the limit where it is not the gateway-wide setting (a hosted member's own rule)."""
        rule = rule or self.rule(name)
        now = self.clock()
        since = now - rule.window_s
        key = subject.lower()[:128]
        refused = self._refused.get((name, key))
        if refused is not None and now < refused[0] and weight >= refused[2]:
            raise RateLimited(refused[1], retry_after=max(1, math.ceil(refused[0] - now)))
        with self.engine.begin() as conn:
            conn.execute(delete(rate_hits).where(rate_hits.c.rule == name, rate_hits.c.at <= since))
            live = rate_hits.c.rule == name, rate_hits.c.subject == key, rate_hits.c.at > since
            used = conn.execute(select(func.coalesce(func.sum(rate_hits.c.weight), 0)).where(*live))
            total = int(used.scalar() or 0)
            if total + weight > rule.limit:
                oldest = conn.execute(select(func.min(rate_hits.c.at)).where(*live)).scalar()
                # The oldest hit leaving the window is the soonest anything frees up.
                wait = rule.window_s if oldest is None else float(oldest) + rule.window_s - now
                text = (
                    f"too many {what}: at most {rule.limit} per {rule.window_s:g} s "
                    f"({name.replace('_', ' ')}); try again later"
                )
                self._remember(name, key, now + wait, text, weight)
                raise RateLimited(text, retry_after=max(1, math.ceil(wait)))
            conn.execute(insert(rate_hits).values(rule=name, subject=key, at=now, weight=weight))

    def _remember(self, name: str, key: str, until: float, text: str, weight: int) -> None:
        """Refuse ``key`` without the database until ``until``, for this weight or more (a
        smaller upload may still fit)."""
        if len(self._refused) >= MAX_REMEMBERED_REFUSALS:
            now = self.clock()
            self._refused = {k: v for k, v in self._refused.items() if v[0] > now}
            if len(self._refused) >= MAX_REMEMBERED_REFUSALS:
                return  # a flood of distinct subjects: fall back to the database
        self._refused[(name, key)] = (until, text, weight)


MAX_REMEMBERED_REFUSALS = 10_000


def client_key(host: str | None) -> str:
    """The subject for per-IP limits: the IPv4 address, or an IPv6 client's /64 (one
    host usually holds a whole /64, so counting single addresses would not limit it)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
