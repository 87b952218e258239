"""What ``alliance network status`` shows: etcd members, the producer, every node's height
and lag behind the newest block in etcd, faulty sealers and refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from ledger_node.genesis import Genesis
from ledger_node.jsonrpc import ChainUnavailable, JsonRpc, RpcError
from ledger_node.network.etcd import KV, Etcd, last_key, prefix_end
from ledger_node.network.layout import Keys, from_json, height_of
from ledger_node.network.roles import OBSERVER
from ledger_node.network.supervisor import LocalNetwork
from ledger_node.network.votes import Ballot

# The observer's etcd token per network, kept across calls in one process: tests and the
# benchmark poll `status` in loops, and each new token costs etcd a bcrypt check.
_tokens: dict[tuple[object, ...], str] = {}


async def _gather(net: LocalNetwork) -> dict[str, Any]:
    cache = (net.root, *net.etcd_endpoints)
    access = net.access(OBSERVER)
    etcd = Etcd(net.etcd_endpoints, 1.0, access, _tokens.get(cache) if access else None)
    keys = Keys(net.name)
    out: dict[str, Any] = {"network": net.name, "etcd": [], "nodes": []}
    try:
        for url in net.etcd_endpoints:
            try:
                st = await etcd.status(url)
                out["etcd"].append(
                    {
                        "url": url,
                        "up": True,
                        "leader": st.get("leader") == st["header"]["member_id"],
                    }
                )
            except (httpx.HTTPError, KeyError, ValueError, OSError):  # OSError: auth refused
                out["etcd"].append({"url": url, "up": False, "leader": False})
        try:
            newest = await last_key(etcd, keys.blocks)
            producer = await etcd.get(keys.producer)
            live, _ = await etcd.range(keys.nodes, prefix_end(keys.nodes))
            faulty, _ = await etcd.range(keys.sub("faulty/"), prefix_end(keys.sub("faulty/")))
            pool, _ = await etcd.range(keys.pool, prefix_end(keys.pool), keys_only=True)
        except OSError as exc:
            out["error"] = str(exc)
            return out
        out["height"] = height_of(newest.key) if newest else 0
        token = from_json(producer.value) if producer else {}
        out["producer"] = token.get("id")
        out["producer_sealer"] = token.get("sealer")
        # Only marks that prove themselves (signed votes, votes.py) name a faulty sealer.
        ballot = _ballot(net)
        out["faulty"], out["forged_marks"] = [], []
        for mark in faulty:
            name = mark.key.rsplit(b"/", 1)[1].decode()
            try:
                proved = ballot.mark_holds(mark.value, bytes.fromhex(name.removeprefix("0x")))
            except ValueError:
                proved = False
            out["faulty" if proved else "forged_marks"].append(name)
        out["pool_entries"] = len(pool)
        reported = _records(live)
        heights = await asyncio.gather(*(asyncio.to_thread(_height, n.url) for n in net.nodes))
        for spec, height in zip(net.nodes, heights, strict=True):
            row: dict[str, Any] = {"id": spec.id, "url": spec.url, "up": height is not None}
            info = reported.get(spec.id)
            row["role"] = info["role"] if info else ("follower" if spec.follower else "-")
            row["sealer"] = info.get("sealer") if info else None
            row["alarms"] = info.get("alarms", []) if info else []
            if height is not None:
                row["height"] = height
                row["lag"] = out["height"] - height
            out["nodes"].append(row)
    finally:
        if etcd.token:
            _tokens[cache] = etcd.token
        await etcd.close()
    return out


def _ballot(net: LocalNetwork) -> Ballot:
    genesis = Genesis.from_json((net.root / "genesis.json").read_text())
    return Ballot(net.name, genesis.chain_id, genesis.sealers)


def _records(live: list[KV]) -> dict[str, dict[str, Any]]:
    """Status records by the node their key names: only that node's etcd role may write the
    key, while the ``id`` inside is whatever the writer claims. Unreadable ones are skipped."""
    out = {}
    for kv in live:
        try:
            out[kv.key.rsplit(b"/", 1)[1].decode()] = from_json(kv.value)
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def _height(url: str) -> int | None:
    """The node's block height, or None when it does not answer (usably) within a second."""
    with JsonRpc(url, timeout=1.0) as rpc:
        try:
            return int(rpc.call("eth_blockNumber", []), 16)
        except (ChainUnavailable, RpcError, TypeError, ValueError):
            return None


def network_status(net: LocalNetwork) -> dict[str, Any]:
    return asyncio.run(_gather(net))


def format_status(st: dict[str, Any]) -> str:
    lines = [f"network {st['network']}"]
    etcd = ", ".join(
        f"{e['url']} {'up' if e['up'] else 'DOWN'}{' (leader)' if e['leader'] else ''}"
        for e in st["etcd"]
    )
    lines.append(f"etcd: {etcd}")
    if "error" in st:
        lines.append(f"ordering service unavailable: {st['error']}")
        return "\n".join(lines)
    lines.append(
        f"height {st['height']}  producer {st['producer'] or '(none)'}  "
        f"pool entries {st['pool_entries']}  faulty {', '.join(st['faulty']) or '-'}"
    )
    if st.get("forged_marks"):
        lines.append(f"ignored faulty marks (no valid votes): {', '.join(st['forged_marks'])}")
    lines.append(f"{'node':<12}{'role':<10}{'state':<7}{'height':>8}{'lag':>6}  url")
    for n in st["nodes"]:
        lines.append(
            f"{n['id']:<12}{n['role']:<10}{'up' if n['up'] else 'DOWN':<7}"
            f"{n.get('height', '-')!s:>8}{n.get('lag', '-')!s:>6}  {n['url']}"
        )
        lines.extend(f"    {a}" for a in n["alarms"])
    return "\n".join(lines)
