"""Threat (to ourselves): a node that caps eth_getLogs (as ours now does, like Infura, geth
and Besu) must not blind the gateway. The indexer and the event readers read any range in
as many queries as the node allows, and a single block is always answered whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from eth_account import Account

from sharing_api.chain import Alliance, Category, ChainClient
from sharing_api.index import IndexDB, Indexer
from tests.contracts.helpers import POLICY
from tests.support.api import H1, deploy_test_alliance
from tests.support.ledger import DEV_KEYS, NodeProcess

pytestmark = pytest.mark.integration
RECORDS = 60  # over the limited node's 50 logs per answer, across more than 5 blocks


def test_indexer_and_event_reads_page_through_a_capped_node(
    limited_node: NodeProcess, tmp_path: Path
) -> None:
    alliance = deploy_test_alliance(tmp_path, limited_node.url, DEV_KEYS[0])
    h1 = Alliance(ChainClient(limited_node.url, H1), alliance.deployment)
    patient = Account.create().address
    for i in range(RECORDS):
        digest = hashlib.sha256(str(i).encode()).digest()
        h1.records.register(patient, Category.SUMMARY, f"bafk{i}", digest, POLICY)
    # A plain query over the whole history is refused by this node ...
    with pytest.raises(Exception, match="narrow the range"):
        h1.client.rpc.call(
            "eth_getLogs",
            [{"fromBlock": "0x0", "toBlock": "latest", "address": h1.records.address}],
        )
    # ... yet the wrappers and the indexer see every record.
    assert len(h1.records.events("RecordRegistered")) == RECORDS
    index = IndexDB(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    try:
        Indexer(index, h1.client.w3, alliance.deployment).sync()
        assert len(index.records(patient=patient, limit=1000)) == RECORDS
    finally:
        index.close()
