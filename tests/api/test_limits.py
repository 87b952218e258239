"""The rate limiter alone: a sliding window per (rule, subject) in the index DB, with an
injected clock; refused hits are not charged, old hits are pruned (bounded table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from sharing_api.api.core.config import RateLimit, RateLimits
from sharing_api.api.core.limits import Limiter, RateLimited, UnknownRule, client_key
from sharing_api.index import IndexDB
from sharing_api.index.schema import rate_hits


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limiter(tmp_path: Path) -> tuple[Limiter, Clock]:
    clock = Clock()
    limits = RateLimits(
        nonce_per_ip=RateLimit(limit=3, window_s=60),
        upload_bytes_per_member=RateLimit(limit=1000, window_s=60),
    )
    db = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    return Limiter(db.engine, limits, clock), clock


def test_sliding_window_per_subject(limiter: tuple[Limiter, Clock]) -> None:
    lim, clock = limiter
    for _ in range(3):
        lim.hit("nonce_per_ip", "10.0.0.1")
        clock.now += 10
    with pytest.raises(RateLimited) as caught:
        lim.hit("nonce_per_ip", "10.0.0.1")
    assert caught.value.status == 429
    assert caught.value.retry_after == 30  # the first hit leaves the window in 30 s
    lim.hit("nonce_per_ip", "10.0.0.2")  # another subject has its own window
    clock.now += 30
    lim.hit("nonce_per_ip", "10.0.0.1")  # the first hit has left the window


def test_weights_and_refusals_charge_nothing(limiter: tuple[Limiter, Clock]) -> None:
    lim, _ = limiter
    lim.hit("upload_bytes_per_member", "0xabc", 600)
    with pytest.raises(RateLimited):
        lim.hit("upload_bytes_per_member", "0xabc", 500)
    lim.hit("upload_bytes_per_member", "0xABC", 400)  # subjects are case-insensitive
    with pytest.raises(RateLimited):
        lim.hit("upload_bytes_per_member", "0xabc", 1)


def test_old_hits_are_pruned(limiter: tuple[Limiter, Clock]) -> None:
    lim, clock = limiter
    for i in range(50):
        lim.hit("nonce_per_ip", f"10.0.1.{i}")
    clock.now += 61
    lim.hit("nonce_per_ip", "10.0.2.1")
    with lim.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rate_hits)).scalar() == 1


def test_unknown_rule_and_client_keys(limiter: tuple[Limiter, Clock]) -> None:
    lim, _ = limiter
    with pytest.raises(UnknownRule):
        lim.hit("nonces_live", "x")  # a number, not a rule
    assert client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert client_key("127.0.0.2") == "127.0.0.2"
    assert client_key(None) == "unknown"


def test_a_refusal_is_remembered_until_anything_frees_up(limiter: tuple[Limiter, Clock]) -> None:
    """A client hammering past its limit is refused from memory: each database hit is a
    write transaction, and a nonce flood made of them slowed every honest request."""
    lim, clock = limiter
    for _ in range(3):
        lim.hit("nonce_per_ip", "10.0.0.9")
    with pytest.raises(RateLimited):
        lim.hit("nonce_per_ip", "10.0.0.9")
    with lim.engine.begin() as conn:  # were the database asked, this would admit the next
        conn.execute(rate_hits.delete())
    clock.now += 59
    with pytest.raises(RateLimited) as caught:
        lim.hit("nonce_per_ip", "10.0.0.9")
    assert caught.value.retry_after == 1
    clock.now += 1  # the window has passed: the database decides again
    lim.hit("nonce_per_ip", "10.0.0.9")


def test_a_remembered_refusal_still_lets_a_smaller_weight_through(
    limiter: tuple[Limiter, Clock],
) -> None:
    lim, _ = limiter
    lim.hit("upload_bytes_per_member", "0xdef", 600)
    with pytest.raises(RateLimited):
        lim.hit("upload_bytes_per_member", "0xdef", 500)
    lim.hit("upload_bytes_per_member", "0xdef", 400)
