"""Typed client for the alliance contracts over any Ethereum JSON-RPC endpoint (web3.py).

Typical use::

    client = ChainClient(url, deployer_key)
    deployment, _gas = deploy_alliance(client, Genesis.load(path))
    alliance = Alliance(client.as_account(member_key), deployment)
"""

from sharing_api.chain.alliance import Alliance
from sharing_api.chain.client import ChainClient, Sent
from sharing_api.chain.errors import ChainUnavailable, ContractRevert, TransactionRejected
from sharing_api.chain.genesis import Deployment, Genesis, MemberSpec, deploy_alliance
from sharing_api.chain.governance import GatewayEntry
from sharing_api.chain.records import AccessEvent
from sharing_api.chain.scopes import (
    Basis,
    Category,
    ConsultationStatus,
    Direction,
    ProposalKind,
    Purpose,
    ReferralStatus,
    Role,
)
from sharing_api.chain.typed_data import GrantTerms, Signature

__all__ = [
    "AccessEvent",
    "Alliance",
    "Basis",
    "Category",
    "ChainClient",
    "ChainUnavailable",
    "ConsultationStatus",
    "ContractRevert",
    "Deployment",
    "Direction",
    "GatewayEntry",
    "Genesis",
    "GrantTerms",
    "MemberSpec",
    "ProposalKind",
    "Purpose",
    "ReferralStatus",
    "Role",
    "Sent",
    "Signature",
    "TransactionRejected",
    "deploy_alliance",
]
