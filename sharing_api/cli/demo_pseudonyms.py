"""`alliance demo`, pairwise pseudonyms: a third patient keeps one address per member, all
from one recovery phrase. The clinic and the tertiary hospital each publish a record under
their own pseudonym of the patient; nothing on chain links the two. One sign-in in the
wallet (proving every pseudonym) lists both; a consent is signed by the clinic's pseudonym;
the patient discloses the link to the regulator, whose gateway checks it and logs the use."""

from __future__ import annotations

import time
from collections.abc import Callable

from eth_account import Account

from sharing_api.patient.disclosure import make_disclosure
from sharing_api.sdk import PatientWallet, SharingClient

Expect = Callable[[str, bool], None]
# A member keeping records: its address, its own client (attests), a staff client (uploads).
Custodian = tuple[str, SharingClient, SharingClient]


def pseudonymous_patient(
    expect: Expect,
    echo: Callable[[str], None],
    wallet_client: SharingClient,
    clinic: Custodian,
    hospital: Custodian,
    reader: SharingClient,
    regulator: SharingClient,
) -> None:
    """``reader`` is a hospital doctor; ``wallet_client`` a fresh client at the patient's
    gateway."""
    _, phrase = Account.create_with_mnemonic()
    wallet = PatientWallet(phrase)
    published = {}
    for (member, desk, staff), authority, category in (
        (clinic, "xq", "lab"),
        (hospital, "h1", "imaging"),
    ):
        pseudonym = wallet.address_at(member)
        desk.attest_patient(pseudonym)  # the member verified the person; the chain sees this
        policy = f"{authority}.role:doctor"
        sealed = SharingClient.seal(
            b'{"resourceType": "Observation", "status": "final"}',
            policy,
            [staff.authority_params(authority)],
            staff.crypto_suite(),
        )
        published[member] = staff.upload(pseudonym, category, policy, sealed)
        echo(f"    record {published[member]['record_id']} at {authority} under {pseudonym}")
    at_clinic, at_hospital = (wallet.address_at(m) for m in (clinic[0], hospital[0]))
    expect(
        "two members, two unrelated patient addresses on chain, neither the wallet's own",
        len({at_clinic, at_hospital, wallet.address}) == 3,
    )

    session = wallet.login(wallet_client)
    echo(f"    one sign-in proves {len(session['pseudonyms'])} pseudonyms (one per care member)")
    mine = {r["record_id"] for r in wallet_client.json("GET", "/patients/me/records")}
    expect(
        "the wallet lists the patient's records at both members",
        mine == {r["record_id"] for r in published.values()},
    )
    consent = wallet.grant_consent(
        wallet_client,
        custodian=clinic[0],
        grantee=hospital[0],
        categories=["lab"],
        purposes=["treatment"],
    )
    expect(
        "the consent to the hospital is signed by the clinic's pseudonym",
        consent["patient"].lower() == at_clinic.lower(),
    )
    record_id = published[clinic[0]]["record_id"]
    reader.fetch(record_id)
    reads = wallet_client.json("GET", "/patients/me/accesses")
    expect(
        "the hospital's read on that consent shows in the wallet",
        [a["record_id"] for a in reads] == [record_id],
    )

    chain_id = int(wallet_client.json("GET", "/health")["chain_id"])
    me = regulator.json("GET", "/auth/me")["subject"]
    accounts = [wallet.account_at(clinic[0]), wallet.account_at(hospital[0])]
    doc = make_disclosure(accounts, me, chain_id, int(time.time()))
    shown = regulator.json("POST", "/audit/disclosed", json=doc)
    expect(
        "only the patient's signed disclosure links them: the regulator's gateway checks it, "
        f"logs the use, and lists {len(shown['records'])} records and {len(shown['accesses'])} "
        "read across both",
        {r["record_id"] for r in shown["records"]} == mine and len(shown["accesses"]) == 1,
    )
