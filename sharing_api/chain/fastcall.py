"""The chain reads on the fetch paths, without web3's per-call machinery: the reader's
consent and referral eth_calls, and the custodian's look-up of the access it serves against.

web3.py spends ~5-8 ms of CPU per contract call here (middleware, formatters, ABI lookups),
and ~4 ms decoding a handful of AccessLogged logs; a raw JSON-RPC call
(``sharing_api.chain.rpc``) with calldata encoded by eth_abi costs ~0.2 ms. Same answers:
the tests compare them with the typed wrappers in ``sharing_api.chain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.crypto import keccak

from sharing_api.chain.artifacts import load_artifact
from sharing_api.chain.errors import ChainUnavailable, RpcError
from sharing_api.chain.rpc import JsonRpc


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


IS_PERMITTED = selector("isPermitted(address,address,uint8,uint8)")
COVERS_ACCESS = selector("coversAccess(uint256,address,address,uint256)")
ACCESS_COUNT = selector("accessCount()")


def _access_logged_topic() -> str:
    for item in load_artifact("AccessLog").abi:
        if item.get("type") == "event" and item["name"] == "AccessLogged":
            return "0x" + bytes(event_abi_to_log_topic(item)).hex()  # type: ignore[arg-type]
    raise ValueError("AccessLog has no AccessLogged event")


def _word(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


@dataclass(frozen=True)
class LoggedAccess:
    access_id: int
    logger: str  # lower case
    block_number: int


class FastCalls:
    def __init__(
        self,
        url: str,
        consents: str,
        referrals: str,
        timeout: float = 30.0,
        *,
        access_log: str = "",
        consultations: str = "",
    ) -> None:
        self.url = url
        self.consents = consents
        self.referrals = referrals
        self.access_log = access_log.lower()
        self.consultations = consultations
        self.rpc = JsonRpc(url, timeout)
        self._access_logged = _access_logged_topic() if access_log else ""

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

    def consultation_covers(
        self, consultation_id: int, patient: str, reader: str, record_id: int
    ) -> bool:
        """ConsultationRegistry.coversAccess (same selector as the referral's)."""
        if not self.consultations:
            raise ValueError("FastCalls built without the ConsultationRegistry address")
        args = encode(
            ["uint256", "address", "address", "uint256"],
            [consultation_id, patient, reader, record_id],
        )
        (covered,) = decode(["bool"], self._call(self.consultations, COVERS_ACCESS + args))
        return bool(covered)

    def block_number(self) -> int:
        try:
            return int(str(self.rpc.call("eth_blockNumber", [])), 16)
        except RpcError as exc:
            raise ChainUnavailable(f"eth_blockNumber failed: {exc.error}") from None

    def access_count(self) -> int:
        """AccessLog.accessCount(): ids run from 1 to this."""
        (count,) = decode(["uint256"], self._call(self.access_log, ACCESS_COUNT))
        return int(count)

    def logged_access(
        self, access_id: int, record_id: int, reader: str, from_block: int, to_block: int
    ) -> LoggedAccess | None:
        """Access ``access_id`` if ``reader`` logged it to ``record_id`` in blocks
        ``from_block`` .. ``to_block`` (inclusive), else None. The same eth_getLogs as
        ``AccessLog.access_events`` (recordId and reader topics), decoded by hand; every
        field is checked here again, as access control must not trust a node to filter."""
        if not self.access_log:
            raise ValueError("FastCalls built without the AccessLog address")
        if from_block < 0 or to_block < from_block:
            raise ValueError(f"bad block window {from_block}..{to_block}")
        reader_topic = "0x" + "00" * 12 + reader.lower().removeprefix("0x")
        record_topic = _word(record_id)
        flt = {
            "address": self.access_log,
            "fromBlock": hex(from_block),
            "toBlock": hex(to_block),
            "topics": [self._access_logged, record_topic, None, reader_topic],
        }
        try:
            logs: Any = self.rpc.call("eth_getLogs", [flt]) or []
        except RpcError as exc:
            raise ChainUnavailable(f"eth_getLogs failed: {exc.error}") from None
        for log in logs:
            topics = [str(t).lower() for t in log.get("topics", ())]
            data = bytes.fromhex(str(log.get("data", "0x"))[2:])
            block = int(str(log.get("blockNumber")), 16)
            if (
                log.get("removed")
                or str(log.get("address", "")).lower() != self.access_log
                or topics[:2] != [self._access_logged, record_topic]
                or len(topics) != 4
                or topics[3] != reader_topic
                or not from_block <= block <= to_block
                or len(data) < 64
            ):
                continue
            if int.from_bytes(data[:32], "big") == access_id:  # accessId, then logger
                return LoggedAccess(access_id, "0x" + data[44:64].hex(), block)
        return None
