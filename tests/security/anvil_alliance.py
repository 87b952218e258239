"""A fresh alliance on anvil, for the threat tests where time must pass (anvil's
``evm_increaseTime``/``evm_mine``; the project's node has no time travel)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contracts.conftest import BACKENDS, Actors, ChainEndpoint, make_actors


# Named fixtures, so a test module imports them without shadowing its parameters' names.
@pytest.fixture(name="anvil", scope="module")
def anvil_endpoint() -> Iterator[ChainEndpoint]:
    with BACKENDS["anvil"]() as endpoint:
        yield endpoint


@pytest.fixture(name="actors")
def anvil_actors(anvil: ChainEndpoint) -> Actors:
    return make_actors(anvil)


def travel(actors: Actors, seconds: int) -> None:
    """Move the chain's clock forward and mine a block at the new time."""
    provider = actors.h1.client.w3.provider
    provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    provider.make_request("evm_mine", [])  # type: ignore[arg-type]
