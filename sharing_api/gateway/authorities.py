"""Other members' ABE public parameters, fetched from their gateways and checked against
the parameter hash each member holds on chain (AllianceRegistry), so a gateway can seal to
any authority of the alliance without holding a file handed around."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from crypto.authority import AuthorityParams
from crypto.errors import FormatError
from sharing_api.gateway.peers import PeerError, PeerFetcher


class RemoteAuthorities:
    def __init__(
        self, registry: Any, peers: PeerFetcher, skip: set[str], ttl_s: float = 60.0
    ) -> None:
        self.ttl_s = ttl_s  # a rotated authority's new parameters are seen after this long
        self.registry = registry
        self.peers = peers
        self.skip = {m.lower() for m in skip}  # members hosted here: served locally
        self._found: dict[str, tuple[float, str, AuthorityParams]] = {}
        self._lock = threading.Lock()

    def params(self, authority_id: str) -> AuthorityParams | None:
        """The parameters of ``authority_id`` from the member that runs it, verified against
        its on-chain hash; None if no member's gateway serves such an authority."""
        with self._lock:
            cached = self._found.get(authority_id)
        # One eth_call even on a hit: a member that rotated its authority (revoking staff)
        # has put a new hash on chain, and sealing to the old parameters would let the
        # revoked person's key open the record. The chain, not the cache's age, decides.
        if (
            cached is not None
            and time.monotonic() - cached[0] < self.ttl_s
            and self.registry.member(cached[1]).abe_params_hash == cached[2].fingerprint
        ):
            return cached[2]
        for member in self.registry.members():
            if member.lower() in self.skip:
                continue
            try:
                listing = json.loads(self.peers.get(member, "/keys/authorities"))
                if not any(a.get("authority") == authority_id for a in listing):
                    continue
                raw = self.peers.get(member, f"/keys/authorities/{authority_id}/params")
                params = AuthorityParams.from_bytes(raw)
            except (PeerError, ValueError, FormatError, AttributeError, TypeError):
                continue  # no gateway, unreachable, or nonsense: not this member
            on_chain = self.registry.member(member).abe_params_hash
            if params.authority == authority_id and params.fingerprint == on_chain:
                with self._lock:
                    self._found[authority_id] = (time.monotonic(), member, params)
                return params
        return None
