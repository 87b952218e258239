"""The two eth_calls on the fetch path, without web3's per-call machinery.

web3.py spends ~5-8 ms of CPU per contract call here (middleware, formatters, ABI lookups);
a raw JSON-RPC eth_call (``sharing_api.chain.rpc``) with calldata encoded by eth_abi costs
~0.2 ms. Same answers: the tests compare them with the typed wrappers in ``sharing_api.chain``.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from sharing_api.chain.errors import ChainUnavailable, RpcError
from sharing_api.chain.rpc import JsonRpc


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


IS_PERMITTED = selector("isPermitted(address,address,uint8,uint8)")
COVERS_ACCESS = selector("coversAccess(uint256,address,address,uint256)")


class FastCalls:
    def __init__(self, url: str, consents: str, referrals: str, timeout: float = 30.0) -> None:
        self.url = url
        self.consents = consents
        self.referrals = referrals
        self.rpc = JsonRpc(url, timeout)

    def close(self) -> None:
        self.rpc.close()

    def _call(self, to: str, data: bytes) -> bytes:
        try:
            result: Any = self.rpc.call(
                "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]
            )
        except RpcError as exc:
            raise ChainUnavailable(f"eth_call failed: {exc.error}") from None
        return bytes.fromhex(str(result)[2:])

    def is_permitted(self, patient: str, reader: str, category: int, purpose: int) -> int | None:
        """The newest consent id covering the access now, or None (ConsentRegistry)."""
        args = encode(
            ["address", "address", "uint8", "uint8"], [patient, reader, category, purpose]
        )
        permitted, consent_id = decode(
            ["bool", "uint256"], self._call(self.consents, IS_PERMITTED + args)
        )
        return int(consent_id) if permitted else None

    def covers_access(self, referral_id: int, patient: str, reader: str, record_id: int) -> bool:
        args = encode(
            ["uint256", "address", "address", "uint256"], [referral_id, patient, reader, record_id]
        )
        (covered,) = decode(["bool"], self._call(self.referrals, COVERS_ACCESS + args))
        return bool(covered)
