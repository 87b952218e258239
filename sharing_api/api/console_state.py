"""What the regulator console keeps between requests: the last verification result (in the
index database, ``sharing_api.index.console_results``, so it survives a restart), how far
the chain's hash links have been checked (in memory: after a restart a re-run checks from
genesis again), a cache of block times, and the supervision dashboard's thresholds (in
the index database too). One per app, in its ``Services``; a lock keeps one
verification at a time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from sharing_api.audit.rpc_verify import verify_links_rpc
from sharing_api.audit.verify import verify_blobs
from sharing_api.chain.errors import ChainUnavailable, RpcError
from sharing_api.index.console_results import VerificationStore
from sharing_api.index.supervision_thresholds import ThresholdStore

if TYPE_CHECKING:
    from sharing_api.api.services import Services

OUR_NODE = "alliance-ledger/"  # web3_clientVersion prefix of the project's ledger node


@dataclass
class Verification:
    ran_at: int
    seconds: float
    ok: bool
    chain: dict[str, Any]  # links and seals over JSON-RPC (or why not checked)
    blobs: dict[str, Any]  # BlobResult as a dict
    errors: list[str]


@dataclass
class ConsoleState:
    store: VerificationStore  # the last result, in the index database
    thresholds: ThresholdStore  # the supervision thresholds the regulator set here
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_block: int = 0  # first block whose link and seal are not yet checked
    parent_hash: str | None = None
    sealers: set[str] = field(default_factory=set)
    block_times: dict[int, int] = field(default_factory=dict)

    def latest(self) -> Verification | None:
        """The last verification, by this API, another worker or this API before a restart."""
        kept = self.store.load()
        return None if kept is None else Verification(**kept)

    def block_time(self, services: Services, number: int) -> int:
        ts = self.block_times.get(number)
        if ts is None:
            ts = int(services.reader.client.w3.eth.get_block(number)["timestamp"])
            if len(self.block_times) > 100_000:
                self.block_times.clear()
            self.block_times[number] = ts
        return ts

    def verify(self, services: Services, sample: int | None, members: set[str]) -> Verification:
        """Check new blocks' hash links and seals (each by its coinbase) and the
        stored blobs against their on-chain SHA-256 (all, or a random sample)."""
        with self.lock:
            started = time.monotonic()
            errors: list[str] = []
            chain = self._check_links(services, members, errors)
            records = services.index.records()
            blobs = asdict(verify_blobs(services.storage, records, sample, seed=int(time.time())))
            errors += [f"record {f['record_id']}: {f['error']}" for f in blobs["failures"]]
            result = Verification(
                int(time.time()), round(time.monotonic() - started, 3), not errors, chain, blobs,
                errors,
            )  # fmt: skip
            self.store.save(asdict(result))
            return result

    def _check_links(
        self, services: Services, members: set[str], errors: list[str]
    ) -> dict[str, Any]:
        transport = services.reader.client.rpc

        def rpc(method: str, params: list[Any]) -> Any:
            try:
                return transport.call(method, params)
            except RpcError as exc:  # a node error is not a broken chain: not a ValueError
                raise ChainUnavailable(f"{method}: {exc}") from exc

        client = str(rpc("web3_clientVersion", []))
        if not client.startswith(OUR_NODE):
            return {
                "checked": False,
                "note": f"{client} is not the project's ledger node: links and seals are "
                "checked only on it (use `alliance audit verify --data-dir` on a node)",
            }
        try:
            links = verify_links_rpc(rpc, self.next_block, self.parent_hash)
        except ValueError as exc:
            errors.append(str(exc))
            return {"checked": True, "ok": False, "error": str(exc)}
        self.next_block, self.parent_hash = links.last + 1, links.head_hash
        self.sealers |= set(links.sealers)
        return {
            "checked": True,
            "ok": True,
            "blocks": self.next_block,
            "new_blocks": links.last - links.first + 1,
            "head_hash": self.parent_hash,
            # The node operators' keys (the genesis sealers); not necessarily members.
            "sealers": sorted(self.sealers),
            "sealers_not_members": sorted(s for s in self.sealers if s not in members),
            "note": "hash links and seals over JSON-RPC; state commitments are re-executed by "
            "`alliance audit verify --data-dir` on a node's data",
        }


def console_state(request: Request) -> ConsoleState:
    """The app's console state (built with the other stores in ``Services.build``)."""
    services: Services = request.app.state.services
    return services.console
