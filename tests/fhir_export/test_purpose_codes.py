"""Golden: the local purposes in HL7 v3 ActReason. A change here is a change of what other
systems read in our Consents and AuditEvents: make it on purpose, in both places."""

from __future__ import annotations

import re
from pathlib import Path

from sharing_api.chain import Purpose
from sharing_api.fhir_export.purpose_codes import (
    ACT_REASON,
    BREAK_GLASS,
    PATIENT_REQUEST,
    PURPOSE_CODES,
    purpose_of_use,
)

GOLDEN = {
    "treatment": "TREAT",
    "referral": "COC",
    "consultation": "COC",
    "research": "HRESCH",
    "emergency": "ETREAT",
}
ROOT = Path(__file__).resolve().parents[2]


def test_the_table_is_fixed() -> None:
    assert {p.label: code for p, (code, _) in PURPOSE_CODES.items()} == GOLDEN
    assert BREAK_GLASS[0] == "BTG" and PATIENT_REQUEST[0] == "PATRQT"
    assert ACT_REASON == "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def test_every_local_purpose_is_mapped() -> None:
    """The contracts', the Python client's and the wallet's purposes, all of them."""
    assert set(PURPOSE_CODES) == set(Purpose)
    wallet = (ROOT / "sharing_api/web/apps/wallet/typed.js").read_text()
    listed = re.search(r"export const PURPOSES = \[([^\]]*)\]", wallet)
    assert listed is not None
    assert re.findall(r'"([a-z-]+)"', listed.group(1)) == list(GOLDEN)
    solidity = (ROOT / "contracts/src/Interfaces.sol").read_text()
    on_chain = re.findall(r"PURPOSE_([A-Z_]+) = (\d+);", solidity)
    named = {name.lower().replace("_", "-") for name, _ in on_chain if name != "COUNT"}
    assert named == set(GOLDEN)


def test_break_glass_adds_btg_and_keeps_the_local_code() -> None:
    plain = purpose_of_use(Purpose.EMERGENCY)
    assert [[c["code"] for c in cc["coding"]] for cc in plain] == [["ETREAT", "emergency"]]
    glass = purpose_of_use(Purpose.EMERGENCY, break_glass=True)
    assert [[c["code"] for c in cc["coding"]] for cc in glass] == [["ETREAT", "emergency"], ["BTG"]]
