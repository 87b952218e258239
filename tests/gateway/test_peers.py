"""The peer client's refusals that need no second gateway: plain HTTP between gateways only
when the operator said so, and a member without a directory entry."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sharing_api.gateway.peers import Directory, PeerError, PeerFetcher

MEMBER = "0x" + "ab" * 20


@dataclass(frozen=True)
class Entry:
    url: str
    fingerprint: bytes


class Registry:
    """An on-chain directory as plain data (the chain side is tested in tests/contracts)."""

    def __init__(self, entries: dict[str, Entry | None]) -> None:
        self.entries = entries

    def gateway_of(self, account: str) -> Entry | None:
        return self.entries.get(account)


def test_plain_http_peer_needs_insecure_http() -> None:
    registry = Registry({MEMBER: Entry("http://127.0.0.1:9", b"\0" * 32)})
    strict = PeerFetcher(Directory(registry, ttl_s=0))
    with pytest.raises(PeerError) as refused:
        strict.fetch(MEMBER, 1, 1, b"\1" * 32, "00" * 32)
    assert "plain HTTP between gateways needs insecure_http" in refused.value.detail
    # With the flag the request is made (and fails here only because nothing listens).
    lax = PeerFetcher(Directory(registry, ttl_s=0), insecure_http=True, timeout=2)
    with pytest.raises(PeerError) as unreachable:
        lax.fetch(MEMBER, 1, 1, b"\1" * 32, "00" * 32)
    assert "cannot reach" in unreachable.value.detail
    lax.close()


def test_member_without_gateway_entry() -> None:
    fetcher = PeerFetcher(Directory(Registry({MEMBER: None})))
    with pytest.raises(PeerError) as refused:
        fetcher.fetch(MEMBER, 1, 1, b"\1" * 32, "00" * 32)
    assert "no gateway in the on-chain directory" in refused.value.detail
