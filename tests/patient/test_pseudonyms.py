"""Pairwise pseudonyms: fixed vectors, hardened paths, and the same addresses in ethers v6
(what the wallet will derive) as in Python."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sharing_api.patient.pseudonyms import (
    PRIMARY_PATH,
    PseudonymError,
    custodian_index,
    primary_account,
    pseudonym_account,
    pseudonym_path,
)

REPO = Path(__file__).resolve().parents[2]
PHRASE = "test test test test test test test test test test test junk"
H1 = "0x1111111111111111111111111111111111111111"
PJ = "0x2222222222222222222222222222222222222222"
# Derived once and frozen: a change to the path scheme must be a deliberate, visible one.
VECTORS = {
    H1: ("m/44'/60'/0'/1'/1656779780'", "0xc4c66762Af090E3b00230Af67230085F22459373"),
    PJ: ("m/44'/60'/0'/1'/716219460'", "0x646c2Fab5606Ad4059f1761bFF748f832586062B"),
}


def test_primary_is_the_ordinary_wallet_account() -> None:
    assert PRIMARY_PATH == "m/44'/60'/0'/0/0"
    assert primary_account(PHRASE).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize("custodian", [H1, PJ])
def test_fixed_vectors(custodian: str) -> None:
    path, address = VECTORS[custodian]
    assert pseudonym_path(custodian) == path
    assert pseudonym_account(PHRASE, custodian).address == address
    # Case of the member's address does not matter.
    assert pseudonym_account(PHRASE, custodian.lower()).address == address


def test_pseudonyms_differ_per_custodian_and_from_the_primary() -> None:
    addresses = {pseudonym_account(PHRASE, m).address for m in (H1, PJ)}
    assert len(addresses) == 2
    assert primary_account(PHRASE).address not in addresses


def test_index_is_below_the_hardened_bit() -> None:
    assert 0 <= custodian_index("0x" + "ff" * 20) < 2**31


def test_bad_phrase_and_address_are_refused_without_echoing_the_phrase() -> None:
    with pytest.raises(PseudonymError) as caught:
        primary_account("test test test test test test test test test test test test")
    assert "test test" not in str(caught.value)
    with pytest.raises(PseudonymError, match="not an address"):
        pseudonym_path("0x123")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: make setup")
def test_ethers_derives_the_same_addresses() -> None:
    paths = [PRIMARY_PATH] + [VECTORS[m][0] for m in (H1, PJ)]
    script = (
        "import { HDNodeWallet } from 'ethers';"
        f"const paths = {json.dumps(paths)};"
        f"console.log(JSON.stringify(paths.map((p) => "
        f"HDNodeWallet.fromPhrase({json.dumps(PHRASE)}, undefined, p).address)));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == [
        primary_account(PHRASE).address,
        VECTORS[H1][1],
        VECTORS[PJ][1],
    ]
