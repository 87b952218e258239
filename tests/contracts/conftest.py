"""Fixtures for the contract tests: a chain endpoint and a freshly deployed alliance.

``chain`` is parametrized by backend name. Each backend yields a ChainEndpoint: a JSON-RPC URL
and private keys the node lets send transactions (anvil: its funded dev accounts). To run
the same tests against another node (the project's ledger node), add a backend to
``BACKENDS`` and its name to ``CHAIN_BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sharing_api.chain import Alliance, ChainClient, Genesis, MemberSpec, Role, deploy_alliance
from tests.support.anvil import anvil_binary, anvil_node


@dataclass(frozen=True)
class ChainEndpoint:
    name: str
    url: str
    keys: tuple[str, ...]  # at least 7 accounts allowed to send transactions
    # False on a permissioned node, where only members' transactions are admitted: tests that
    # need a non-member (a patient) to send its own transaction are then skipped.
    admits_non_members: bool = True
    # True where gas is free (price 0, accounts need no balance): our node, anvil-zero-gas.
    free_gas: bool = False


@contextmanager
def _anvil() -> Iterator[ChainEndpoint]:
    if anvil_binary() is None:
        pytest.skip("anvil not installed (npm @foundry-rs/anvil; run `make setup`)")
    with anvil_node(accounts=8) as node:
        yield ChainEndpoint("anvil", node.url, node.keys)


@contextmanager
def _anvil_zero_gas() -> Iterator[ChainEndpoint]:
    """anvil with gas price and base fee 0, driven by fresh accounts that hold no balance:
    the fee regime of the project's permissioned node."""
    if anvil_binary() is None:
        pytest.skip("anvil not installed (npm @foundry-rs/anvil; run `make setup`)")
    args = ("--gas-price", "0", "--block-base-fee-per-gas", "0", "--no-priority-fee")
    with anvil_node(accounts=1, extra_args=args) as node:
        keys = tuple("0x" + bytes(Account.create().key).hex() for _ in range(8))
        yield ChainEndpoint("anvil-zero-gas", node.url, keys, free_gas=True)


@contextmanager
def _ledger() -> Iterator[ChainEndpoint]:
    """The project's ledger node; its genesis admits the eight test accounts (the contracts'
    own AllianceRegistry then decides who is a member inside the contracts)."""
    from tests.support.ledger import running_node

    keys = tuple("0x" + bytes(Account.create().key).hex() for _ in range(8))
    with running_node(member_keys=list(keys), block_time_ms=20) as node:
        yield ChainEndpoint("ledger", node.url, keys, free_gas=True)


BACKENDS: dict[str, Callable[[], AbstractContextManager[ChainEndpoint]]] = {
    "ledger": _ledger,
    "anvil": _anvil,
    "anvil-zero-gas": _anvil_zero_gas,
}
CHAIN_BACKENDS = ["anvil", "anvil-zero-gas", "ledger"]


@pytest.fixture(scope="session", params=CHAIN_BACKENDS)
def chain(request: pytest.FixtureRequest) -> Iterator[ChainEndpoint]:
    with BACKENDS[request.param]() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def chain_url(chain: ChainEndpoint) -> str:
    return chain.url


@dataclass
class Actors:
    """A deployed alliance and who acts on it.

    Genesis: h1 (tertiary hospital + attribute authority), clinic (community clinic),
    h3 (county hospital), regulator; threshold 2. ``outsider`` can send transactions but is
    not a member. ``patient`` holds no balance; ``paying_patient`` can send its own tx.
    """

    deployer: ChainClient
    h1: Alliance
    clinic: Alliance
    h3: Alliance
    regulator: Alliance
    outsider: Alliance
    paying_patient_chain: Alliance
    patient: LocalAccount
    paying_patient: LocalAccount

    def now(self) -> int:
        return self.h1.client.block_timestamp()


def genesis_for(keys: tuple[str, ...]) -> Genesis:
    h1, clinic, h3, regulator = (Account.from_key(k).address for k in keys[1:5])
    return Genesis(
        members=(
            MemberSpec(
                h1, "Tertiary hospital", Role.HOSPITAL | Role.ATTRIBUTE_AUTHORITY, b"\x11" * 32
            ),
            MemberSpec(
                clinic, "Community clinic", Role.CLINIC | Role.ATTRIBUTE_AUTHORITY, b"\x22" * 32
            ),
            MemberSpec(h3, "County hospital", Role.HOSPITAL),
            MemberSpec(regulator, "Health commission", Role.REGULATOR),
        ),
        threshold=2,
    )


@pytest.fixture
def open_chain(chain: ChainEndpoint) -> ChainEndpoint:
    """The chain, for tests where a non-member sends a transaction itself."""
    if not chain.admits_non_members:
        pytest.skip(f"{chain.name} admits only members' transactions")
    return chain


@pytest.fixture
def actors(chain: ChainEndpoint) -> Actors:
    return make_actors(chain)


def make_actors(chain: ChainEndpoint) -> Actors:
    """A fresh alliance on ``chain`` (tests/security deploys its own on anvil)."""
    deployer = ChainClient(chain.url, chain.keys[0])
    deployment, _gas = deploy_alliance(deployer, genesis_for(chain.keys))
    base = Alliance(deployer, deployment)
    return Actors(
        deployer=deployer,
        h1=base.as_account(chain.keys[1]),
        clinic=base.as_account(chain.keys[2]),
        h3=base.as_account(chain.keys[3]),
        regulator=base.as_account(chain.keys[4]),
        outsider=base.as_account(chain.keys[5]),
        paying_patient_chain=base.as_account(chain.keys[6]),
        patient=Account.create(),
        paying_patient=Account.from_key(chain.keys[6]),
    )
