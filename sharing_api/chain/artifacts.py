"""Compiled contract artifacts (committed under ``contracts/artifacts``) and revert decoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from sharing_api.chain.errors import ContractRevert

CONTRACT_NAMES = (
    "AllianceRegistry",
    "ConsentRegistry",
    "RecordRegistry",
    "ReferralRegistry",
    "ConsultationRegistry",
    "AccessLog",
)


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    if name not in CONTRACT_NAMES:
        raise ValueError(f"unknown contract {name!r}")
    text = resources.files("contracts").joinpath("artifacts", f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"])


def _abi_type(item: dict[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind


@cache
def _error_table() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table: dict[bytes, tuple[str, list[str], list[str]]] = {}
    for name in CONTRACT_NAMES:
        for item in load_artifact(name).abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(i) for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            table[selector] = (item["name"], types, [i["name"] for i in item["inputs"]])
    return table


def decode_revert(data: str | bytes | None) -> ContractRevert:
    """Turn revert data into a ContractRevert naming the custom error."""
    if data is None:
        return ContractRevert("Reverted", {})
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
    shown = "0x" + raw.hex()
    entry = _error_table().get(raw[:4])
    if entry is None:
        if raw[:4] == keccak(text="Error(string)")[:4]:
            return ContractRevert("Error", {"message": abi_decode(["string"], raw[4:])[0]}, shown)
        return ContractRevert("Reverted", {"data": shown}, shown)
    name, types, names = entry
    values = [
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(types, abi_decode(types, raw[4:]), strict=True)
    ]
    return ContractRevert(name, dict(zip(names, values, strict=True)), shown)
