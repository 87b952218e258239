"""ChainClient behaviour that other components rely on: nonces, reverts, receipts."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_typing import HexStr

from sharing_api.chain import (
    Alliance,
    Category,
    ChainClient,
    ContractRevert,
    TransactionRejected,
)
from sharing_api.chain.errors import InsufficientFunds, NonceTooLow, NotAdmitted
from tests.contracts.conftest import Actors, ChainEndpoint
from tests.contracts.helpers import CID, POLICY, sha

pytestmark = pytest.mark.integration


def test_two_wrappers_for_one_key_share_nonces(actors: Actors, chain: ChainEndpoint) -> None:
    twin = actors.h1.as_account(chain.keys[1])
    patient = actors.patient.address
    ids = []
    for i in range(3):
        for who in (actors.h1, twin):
            ids.append(
                who.records.register(
                    patient, Category.LAB, CID, sha(f"{i}{id(who)}"), POLICY
                ).record_id
            )
    assert ids == list(range(ids[0], ids[0] + 6))


def test_reserved_nonces_interleave_with_client_transactions(actors: Actors) -> None:
    """A batcher signing its own transactions reserves nonces from the client's counter."""
    client = actors.h1.client
    patient = actors.patient.address
    actors.h1.records.register(patient, Category.LAB, CID, sha("before"), POLICY)
    with client.reserve_nonces(2) as first:
        raws = [
            client.account.sign_transaction(
                {
                    "to": client.address,
                    "value": 0,
                    "gas": 30_000,
                    "chainId": client.chain_id,
                    "nonce": first + i,
                    **client.fees(),
                }
            ).raw_transaction
            for i in range(2)
        ]
        hashes = [client.w3.eth.send_raw_transaction(raw) for raw in raws]
    for tx_hash in hashes:
        assert client.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["status"] == 1
    after = actors.h1.records.register(patient, Category.LAB, CID, sha("after"), POLICY)
    assert client.w3.eth.get_transaction(HexStr(after.sent.tx_hash))["nonce"] == first + 2
    # A reservation that fails leaves the counter unknown: the node is asked again.
    with pytest.raises(RuntimeError), client.reserve_nonces(1):
        raise RuntimeError("send failed")
    last = actors.h1.records.register(patient, Category.LAB, CID, sha("last"), POLICY)
    assert client.w3.eth.get_transaction(HexStr(last.sent.tx_hash))["nonce"] == first + 3


def test_nonce_taken_elsewhere_is_recovered(actors: Actors, chain: ChainEndpoint) -> None:
    # Another process signing as the same hospital (here: a client on a differently spelled
    # URL, so it keeps its own nonce counter) takes the next nonce behind our back.
    patient = actors.patient.address
    actors.h1.records.register(patient, Category.LAB, CID, sha("a"), POLICY)
    other = Alliance(ChainClient(chain.url + "/", chain.keys[1]), actors.h1.deployment)
    other.records.register(patient, Category.LAB, CID, sha("b"), POLICY)
    third = actors.h1.records.register(patient, Category.LAB, CID, sha("c"), POLICY)
    assert actors.h1.records.get(third.record_id).content_hash == sha("c")


def test_revert_is_raised_before_spending_a_nonce(actors: Actors) -> None:
    client = actors.outsider.client
    before = client.w3.eth.get_transaction_count(client.address)
    with pytest.raises(ContractRevert) as info:
        actors.outsider.records.register(
            actors.patient.address, Category.LAB, CID, sha("x"), POLICY
        )
    assert info.value.name == "NotMember"
    assert isinstance(info.value, ValueError)
    assert client.w3.eth.get_transaction_count(client.address) == before


def test_sent_reports_gas_and_block(actors: Actors) -> None:
    registered = actors.h1.records.register(
        actors.patient.address, Category.LAB, CID, sha("g"), POLICY
    )
    receipt = actors.h1.client.w3.eth.get_transaction_receipt(HexStr(registered.sent.tx_hash))
    assert receipt["gasUsed"] == registered.sent.gas_used
    assert receipt["blockNumber"] == registered.sent.block_number


def test_legacy_fee_transactions(actors: Actors, chain: ChainEndpoint) -> None:
    legacy = Alliance(ChainClient(chain.url, chain.keys[1], legacy_fees=True), actors.h1.deployment)
    registered = legacy.records.register(
        actors.patient.address, Category.LAB, CID, sha("l"), POLICY
    )
    tx = legacy.client.w3.eth.get_transaction(HexStr(registered.sent.tx_hash))
    assert tx["type"] == 0
    if chain.free_gas:  # a member with no balance pays nothing
        assert tx["gasPrice"] == 0
    else:
        assert tx["gasPrice"] > 0
    assert legacy.as_account(chain.keys[2]).client.legacy_fees


def test_node_refusal_is_a_value_error(actors: Actors, chain: ChainEndpoint) -> None:
    pauper = ChainClient(chain.url, Account.create().key)  # no balance at all
    registry = actors.h1.registry.address
    if chain.name == "ledger":  # permissioned: a non-member is refused at admission
        with pytest.raises(NotAdmitted, match=r"not an alliance member"):
            pauper.deploy("RecordRegistry", registry)
        return
    if chain.free_gas:  # free gas: even a pauper's transaction goes through
        address, _ = pauper.deploy("RecordRegistry", registry)
        assert address
        return
    with pytest.raises(InsufficientFunds, match=r"(?i)insufficient funds"):
        pauper.deploy("RecordRegistry", registry)
    assert issubclass(InsufficientFunds, TransactionRejected)  # what callers have caught


def test_a_nonce_taken_elsewhere_is_asked_again_once(actors: Actors, chain: ChainEndpoint) -> None:
    """Another process signing as the same account uses the nonce this client expected: the
    node refuses with NonceTooLow (typed, on every backend) and the client retries once."""
    client = ChainClient(chain.url, chain.keys[-1])
    registry = actors.h1.registry.address
    client.deploy("RecordRegistry", registry)  # the client now expects the next nonce
    with client.reserve_nonces(0) as expected:
        pass
    other = {
        "to": client.address,
        "value": 0,
        "gas": 21_000,
        "gasPrice": client.rpc.call("eth_gasPrice", []),
    }
    signed = client.account.sign_transaction(
        {**other, "nonce": expected, "chainId": client.chain_id}
    )
    client.w3.eth.wait_for_transaction_receipt(
        client.w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    raw = client.account.sign_transaction({**other, "nonce": expected, "chainId": client.chain_id})
    with pytest.raises(NonceTooLow):  # what the client meets on its next send
        client.rpc.call("eth_sendRawTransaction", ["0x" + raw.raw_transaction.hex()])
    address, _ = client.deploy("RecordRegistry", registry)
    assert address
