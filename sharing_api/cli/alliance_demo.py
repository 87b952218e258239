"""The regional pilot, end to end over the sharing API: node, contracts, store, API, patients,
a referral up to the tertiary hospital, a revocation, a break-glass read and the audit."""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from crypto.audit_seal import public_bytes
from crypto.authority import AttributeAuthority
from crypto.records import read_container_header
from sharing_api.audit.break_glass_texts import read_break_glass
from sharing_api.chain import Alliance, ChainClient, Genesis, MemberSpec, Role, deploy_alliance
from sharing_api.cli.demo_consultation import imaging_consultation
from sharing_api.cli.demo_erasure import erase_a_record
from sharing_api.cli.demo_pseudonyms import pseudonymous_patient
from sharing_api.cli.demo_staff import revoke_with_rotation
from sharing_api.cli.demo_storage import DemoStores, demo_stores
from sharing_api.cli.demo_tiers import doctor_tiers
from sharing_api.cli.local_node import ledger_backend
from sharing_api.cli.network_checks import check_network
from sharing_api.fhir import chest_pain_bundle, validate_resource
from sharing_api.gateway.local import LocalGateway, MemberKeys, prepare_gateway, running_gateway
from sharing_api.sdk import ApiError, SharingClient

if TYPE_CHECKING:
    from ledger_node.network.supervisor import LocalNetwork

# (authority id, name, roles); the tertiary hospital first, the regulator last.
INSTITUTIONS = [
    ("h1", "City Third People's Hospital (tertiary)", Role.HOSPITAL | Role.TERTIARY),
    ("pj", "Pujiang County People's Hospital", Role.HOSPITAL),
    ("xq", "Xinqiao Community Health Centre", Role.CLINIC),
    ("gh", "Guanghua Community Health Centre", Role.CLINIC),
    ("cx", "Chengxi Community Health Centre", Role.CLINIC),
    ("fx", "Fuxing Township Health Clinic", Role.CLINIC),
    ("dt", "Datang Township Health Clinic", Role.CLINIC),
    ("gx", "Ganxi Township Health Clinic", Role.CLINIC),
    ("bm", "Baima Township Health Clinic", Role.CLINIC),
]
REGULATOR = "Municipal Health Commission (regulator)"


class Steps:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.failures: list[str] = []
        self.n = 0

    def step(self, title: str) -> None:
        self.n += 1
        click.secho(f"\n[A{self.n}] {title}", bold=True)

    def expect(self, description: str, ok: bool) -> None:
        mark = click.style("ok  ", fg="green") if ok else click.style("FAIL", fg="red")
        self.echo(f"    {mark} {description}")
        if not ok:
            self.failures.append(description)


def _refused(call: Callable[[], Any]) -> int:
    try:
        call()
    except ApiError as exc:
        return exc.status
    return 200


# Who runs which gateway: the tertiary and the county hospital their own, a cloud operator
# the community and township clinics (each clinic's keys sealed under its own passphrase).
GATEWAYS = {"h1": ["h1"], "pj": ["pj"], "cloud": ["xq", "gh", "cx", "fx", "dt", "gx", "bm"]}


@dataclass(frozen=True)
class DemoFacts:
    """What the scenario left on chain, for someone carrying on from the demo."""

    patient_keys: list[str]  # the patients' wallet keys (0x-hex); the first has the record
    record_id: int  # the first patient's record (its consent revoked by the scenario)


@dataclass
class DemoAlliance:
    """The running gateways, by name, and who is served where."""

    gateways: dict[str, LocalGateway]
    home: dict[str, str]  # member id (and "regulator") -> the gateway name it signs in at
    stores: DemoStores | None = None  # the storage servers behind the gateways
    keys: dict[str, str] = field(default_factory=dict)  # member id -> ledger key (0x-hex)
    address: dict[str, str] = field(default_factory=dict)  # member id -> address
    facts: DemoFacts | None = None  # what the scenario left on chain, once it ran
    audit_key: X25519PrivateKey | None = None  # the regulator's (its console gateway holds it)
    regulator_chain: Alliance | None = None  # the regulator's own view of the chain

    def client(self, who: str, key: str | bytes) -> SharingClient:
        return self.client_at(who, key)

    def client_at(self, served: str, key: str | bytes) -> SharingClient:
        """Signed in with ``key`` at the gateway that serves member ``served``."""
        gateway = self.gateways[self.home.get(served, "reg")]
        client = SharingClient(gateway.url, verify=gateway.verify)
        client.login(key)
        return client


def _node_urls(chain_url: str, net: LocalNetwork | None) -> tuple[list[str], str]:
    """Each gateway's own ledger node (in a network), or the one node for all; and the
    regulator console's. The regulator's read-only follower verifies every block (the
    network step checks it), but its console writes (its audit key, closing break-glass
    reviews), so it talks to a member's node."""
    if net is None:
        return [chain_url], chain_url
    members = [n.url for n in net.nodes if not n.follower]
    return members, members[-1]


def run_alliance_scenario(
    workdir: Path,
    echo: Callable[[str], None] = click.echo,
    keep_running: Callable[[DemoAlliance], None] | None = None,
    network: int = 0,
    storage: str = "local",
    handoff: Callable[[DemoAlliance], None] | None = None,
    suite: str = "aes-256-gcm",
) -> list[str]:
    s = Steps(echo)
    deployer = Account.create()
    keys = {aid: "0x" + secrets.token_hex(32) for aid, _, _ in INSTITUTIONS}
    keys["regulator"] = "0x" + secrets.token_hex(32)
    address = {k: Account.from_key(v).address for k, v in keys.items()}
    authorities = {aid: AttributeAuthority.setup(aid) for aid, _, _ in INSTITUTIONS}
    # The regulator is the authority of professional titles and licences (reg.title:...).
    reg_authority = AttributeAuthority.setup("reg")

    where = f"a {network}-member network (etcd-ordered)" if network else "the ledger node"
    s.step(f"Start {where} and deploy the alliance contracts")
    admitted = [deployer.address, *address.values()]
    with (
        demo_stores(storage, workdir / "stores", [*GATEWAYS, "reg"]) as stores,
        ledger_backend(workdir, admitted, network) as (chain_url, net),
    ):
        genesis = Genesis(
            members=(
                *(
                    MemberSpec(
                        address[aid],
                        name,
                        roles | Role.ATTRIBUTE_AUTHORITY,
                        authorities[aid].params().fingerprint,
                    )
                    for aid, name, roles in INSTITUTIONS
                ),
                MemberSpec(
                    address["regulator"],
                    REGULATOR,
                    Role.REGULATOR | Role.ATTRIBUTE_AUTHORITY,
                    reg_authority.params().fingerprint,
                ),
            ),
            threshold=6,
            crypto_suite=suite,  # the alliance-wide data encryption, in deployment.json
        )
        deployment, _ = deploy_alliance(ChainClient(chain_url, deployer.key), genesis)
        deployment.save(workdir / "deployment.json")
        echo(
            f"    node {chain_url}, chain {deployment.chain_id}, "
            f"{len(genesis.members)} members, governance threshold {genesis.threshold}"
        )
        for aid, name, _ in INSTITUTIONS:
            echo(f"    {aid:<3} {name:<42} {address[aid]}")
        echo(f"    reg {REGULATOR:<42} {address['regulator']}")

        s.step("Each institution starts its own gateway (keys, TLS, store, index)")
        nodes, regulator_node = _node_urls(chain_url, net)
        passphrase = secrets.token_urlsafe(24)
        prepared: dict[str, LocalGateway] = {}
        for i, (name, hosted) in enumerate(GATEWAYS.items()):
            prepared[name] = prepare_gateway(
                workdir / "gateways" / name,
                [
                    MemberKeys(
                        aid,
                        keys[aid],
                        authorities[aid],
                        own_passphrase=secrets.token_urlsafe(24) if name == "cloud" else "",
                    )
                    for aid in hosted
                ],
                chain_url=nodes[i % len(nodes)],
                deployment_file=workdir / "deployment.json",
                passphrase=passphrase,
                storage=stores.table(name),
                extra={"crypto_suite": suite},  # seals the gateway's key files in it too
            )
        # The regulator's console gateway hosts the regulator: it signs the close of a
        # break-glass review and holds the audit key that opens the sealed reasons.
        audit_key = X25519PrivateKey.generate()
        regulator_chain = Alliance(ChainClient(chain_url, keys["regulator"]), deployment)
        regulator_chain.access.set_audit_key(public_bytes(audit_key.public_key()))
        prepared["reg"] = prepare_gateway(
            workdir / "gateways" / "reg",
            [MemberKeys("regulator", keys["regulator"], reg_authority, audit_key=audit_key)],
            chain_url=regulator_node,
            deployment_file=workdir / "deployment.json",
            passphrase=passphrase,
            storage=stores.table("reg"),
            extra={"crypto_suite": suite},
        )
        for name, gateway in prepared.items():
            gateway.env.update(stores.env(name))
        with contextlib.ExitStack() as stack:
            for gateway in prepared.values():
                stack.enter_context(running_gateway(gateway))
            for name, gateway in prepared.items():
                serves = ", ".join(GATEWAYS.get(name, [])) or "the regulator's console"
                echo(f"    gateway {name:<5} {gateway.url}  {serves}")
            for line in stores.describe():
                echo(line)
            home = {aid: name for name, members in GATEWAYS.items() for aid in members}
            world = DemoAlliance(prepared, {**home, "regulator": "reg"}, stores, keys, address)
            world.audit_key = audit_key
            world.regulator_chain = regulator_chain
            world.facts = _scenario(s, world, keys, address, echo)
            if net is not None:
                s.step("The alliance network agrees: every node verified every block")
                check_network(net, keys["h1"], s.expect, echo)
            if handoff is not None and not s.failures:
                handoff(world)
            if keep_running is not None and not s.failures:
                keep_running(world)
    return s.failures


def _scenario(
    s: Steps,
    world: DemoAlliance,
    keys: dict[str, str],
    address: dict[str, str],
    echo: Callable[[str], None],
) -> DemoFacts:
    s.step("Members sign in at their own gateways (EIP-4361)")

    def member(aid: str) -> SharingClient:
        return world.client(aid, keys[aid])

    h1, xq, regulator = member("h1"), member("xq"), member("regulator")
    s.expect(
        "the regulator's token is read-only",
        regulator.json("GET", "/auth/me")["kind"] == "regulator",
    )
    gp = xq.staff_client("dr-zhao", "doctor", ["dept:general-practice"])
    cardiologist = h1.staff_client("dr-chen", "doctor", ["dept:cardiology"])
    er_doctor = h1.staff_client("dr-li", "doctor", ["dept:emergency"])
    nurse = h1.staff_client("nurse-liu", "nurse", ["dept:cardiology"])
    echo("    staff tokens: dr-zhao@xq, dr-chen@h1 (cardiology), dr-li@h1 (ER), nurse-liu@h1")

    s.step("Patients create wallets and sign in (at their community clinic's gateway)")
    patients = [Account.create() for _ in range(2)]
    wallets = []
    for p in patients:
        wallets.append(world.client("xq", p.key))
        echo(f"    patient wallet {p.address}")
    patient, wallet = patients[0], wallets[0]

    s.step("The clinic verifies its patients' identity and attests them on chain")
    for p in patients:
        xq.attest_patient(p.address)  # on chain: the address and the clinic, nothing else
    echo("    real-name verified at the desk; each attestation names the wallet and the clinic")

    s.step("A community clinic publishes an encrypted FHIR R4 record")
    bundle = chest_pain_bundle(patient.address, "xq")
    validate_resource(bundle)
    plaintext = json.dumps(bundle, ensure_ascii=False).encode()
    policy = "(h1.role:doctor and h1.dept:cardiology) or xq.role:doctor"
    sealed = SharingClient.seal(
        plaintext,
        policy,
        [xq.authority_params("xq"), xq.authority_params("h1")],
        xq.crypto_suite(),  # the alliance's setting, as the clinic's gateway has it
    )
    rec = gp.upload(patient.address, "summary", policy, sealed)
    echo(f"    record {rec['record_id']}: {len(sealed)} bytes of ciphertext, CID {rec['cid']}")
    suite_name = read_container_header(io.BytesIO(sealed)).suite.name
    echo(f"    policy {policy}, cipher suite {suite_name}")
    s.expect("the stored record holds no plaintext", b"Chest pain" not in sealed)
    s.expect(
        "the patient sees the record in their wallet",
        [r["record_id"] for r in wallet.json("GET", "/records")] == [rec["record_id"]],
    )

    s.step("The patient consents to the tertiary hospital; the clinic refers the patient up")
    consent = wallet.grant_consent(
        patient.key,
        grantee=address["h1"],
        categories=["summary"],
        purposes=["treatment", "referral"],
    )
    echo(f"    consent {consent['consent_id']} signed by the patient (EIP-712), relayed on chain")
    referral = gp.json(
        "POST",
        "/referrals",
        json={
            "patient": patient.address,
            "receiver": address["h1"],
            "direction": "up",
            "record_ids": [rec["record_id"]],
            "consent_id": consent["consent_id"],
            "reason": "suspected acute coronary syndrome",
        },
    )
    accepted = cardiologist.json("POST", f"/referrals/{referral['referral_id']}/accept")
    s.expect(
        f"referral {referral['referral_id']} xq -> h1 accepted", accepted["status"] == "accepted"
    )

    s.step(
        "The cardiologist reads the record through h1's gateway, which logs the access on "
        "chain and fetches the ciphertext from the cloud gateway holding the clinic's records"
    )
    data, headers = cardiologist.fetch(rec["record_id"], referral_id=referral["referral_id"])
    key = cardiologist.issue_my_key()
    s.expect(
        f"dr-chen decrypts the bundle (access {headers['x-access-id']} logged first)",
        SharingClient.open(data, key) == plaintext,
    )
    s.expect(
        "the ciphertext stays in the cloud gateway's store (h1's gateway holds no copy)",
        _held_only_by(world, rec["cid"], "cloud", "h1"),
    )
    nurse_data, _ = nurse.fetch(rec["record_id"])
    try:
        SharingClient.open(nurse_data, nurse.issue_my_key())
        nurse_refused = False
    except ValueError:
        nurse_refused = True
    s.expect("the nurse may fetch under the consent, but her ABE key cannot open it", nurse_refused)
    done = cardiologist.json(
        "POST",
        f"/referrals/{referral['referral_id']}/complete",
        json={"note": "PCI done, back to community care"},
    )
    s.expect("referral completed", done["status"] == "completed")
    # Free text stays off chain: the chain holds salted commitments; h1's gateway keeps the
    # note and fetches the reason from the cloud gateway that wrote it, checking both.
    texts = {t.kind: t for t in cardiologist.referral_texts(referral["referral_id"])}
    s.expect(
        "the reason (kept by the cloud gateway) and the note (kept by h1's) are read at h1's "
        "gateway; both match their salted commitments on chain",
        texts["reason"].text == "suspected acute coronary syndrome"
        and texts["complete"].text == "PCI done, back to community care"
        and all(t.matches_chain for t in texts.values()),
    )

    s.step("The patient revokes the consent; the next read is refused")
    wallet.revoke_consent(patient.key, consent["consent_id"])
    status = _refused(lambda: cardiologist.fetch(rec["record_id"]))
    s.expect(f"dr-chen is refused after the revocation ({status})", status == 403)

    s.step("Emergency: a doctor reads without consent (break-glass), with a reason")
    status = _refused(lambda: nurse.fetch(rec["record_id"], break_glass=True, reason="curious"))
    s.expect(f"a nurse cannot break the glass ({status})", status == 403)
    data, headers = er_doctor.fetch(
        rec["record_id"], break_glass=True, reason="unconscious, suspected MI, no consent reachable"
    )
    bg_access = int(headers["x-access-id"])
    s.expect(
        f"dr-li reads under break-glass (access {bg_access}, flagged on chain)", data == sealed
    )

    s.step("The clinic revokes a departing doctor: tokens refused, its ABE authority rotated")
    revoke_with_rotation(s.expect, echo, xq, gp, h1, sealed)

    doctor_tiers(s, world, h1, regulator, echo)

    s.step("The regulator's audit")
    queue = regulator.json("GET", "/audit/break-glass")
    s.expect(
        "the break-glass read waits in the review queue",
        [a["access_id"] for a in queue] == [bg_access],
    )
    status = _refused(
        lambda: er_doctor.json(
            "POST", f"/audit/break-glass/{bg_access}/justify", json={"justification": "mine"}
        )
    )
    s.expect(f"dr-li cannot justify her own break-glass read ({status})", status == 403)
    chief = h1.staff_client("dr-zhang", "chief-physician", ["dept:emergency"])
    chief.json(
        "POST",
        f"/audit/break-glass/{bg_access}/justify",
        json={"justification": "STEMI; patient unconscious; family unreachable"},
    )
    s.expect(
        "after h1's chief physician justifies it, nothing waits for a justification",
        regulator.json("GET", "/audit/break-glass") == [],
    )
    # The sealed texts stay at h1's gateway. The regulator's own tool (`alliance audit
    # break-glass show`) finds it in the directory, signs in there, opens them with the audit
    # key and checks each against the chain; its console's gateway fetches them the same way.
    assert world.audit_key is not None and world.regulator_chain is not None
    facts, opened = read_break_glass(
        world.regulator_chain, bg_access, keys["regulator"], world.audit_key
    )
    s.expect(
        "the regulator reads the reason and the justification at h1's gateway; both match "
        "the chain",
        facts.reader == address["h1"]
        and opened["reason"].text.startswith("unconscious")
        and opened["justification"].text.startswith("STEMI"),
    )
    review = regulator.json("GET", f"/audit/break-glass/{bg_access}/review")
    s.expect(
        "its console shows them too, fetched from h1's gateway and checked",
        review["reason"]["text"] == opened["reason"].text
        and review["reason"]["matches_chain"]
        and review["justification"]["matches_chain"],
    )
    closed = regulator.json(
        "POST", f"/audit/break-glass/{bg_access}/close", json={"accepted": True}
    )
    s.expect("the regulator closes the case: accepted (on chain)", closed["review"] == "accepted")
    summary = regulator.json("GET", "/audit/summary")
    accesses = regulator.json("GET", "/audit/accesses", params={"patient": patient.address})
    for a in accesses:
        echo(
            f"    access {a['access_id']}: record {a['record_id']} by {a['reader'][:10]}... "
            f"basis {a['basis']} purpose {a['purpose']}"
        )
    bundle_out = regulator.json("GET", "/audit/fhir", params={"patient": patient.address})
    echo(f"    summary: {json.dumps(summary)}")
    s.expect("every read of the patient's record is on chain (3 accesses)", len(accesses) == 3)
    s.expect("exported as a FHIR AuditEvent bundle", len(bundle_out["entry"]) == len(accesses))
    s.expect(
        "one consent revoked, one referral, one break-glass (justified)",
        summary["revoked_consents"] == 1
        and summary["referrals"] == 1
        and summary["break_glass"] == 1
        and summary["break_glass_unjustified"] == 0,
    )
    s.step("A patient erases a record at the clinic (crypto-shredding, marked on chain)")
    erase_a_record(s.expect, echo, xq, gp, patients[1], wallets[1])
    s.step("A patient keeps one pseudonym per member: unlinkable on chain, one in the wallet")
    newcomer = SharingClient(
        world.gateways[world.home["xq"]].url, verify=world.gateways[world.home["xq"]].verify
    )
    pseudonymous_patient(
        s.expect,
        echo,
        newcomer,
        (address["xq"], xq, gp),
        (address["h1"], h1, cardiologist),
        cardiologist,
        regulator,
    )
    newcomer.close()
    s.step("Remote consultation: a township clinic asks the tertiary hospital to read a CT")
    fx, pj = member("fx"), member("pj")
    imaging_consultation(
        s.expect, echo, fx, h1, pj, lambda key: world.client("fx", key), address["h1"]
    )
    fx.close()
    pj.close()
    for client in (h1, xq, regulator, gp, cardiologist, er_doctor, nurse, chief, *wallets):
        client.close()
    return DemoFacts(["0x" + bytes(p.key).hex() for p in patients], int(rec["record_id"]))


def _held_only_by(world: DemoAlliance, cid: str, custodian: str, reader: str) -> bool:
    """Whether the custodian's store holds the blob and the reader's does not."""
    stores = world.stores or DemoStores("local", Path())
    held = {}
    for name in (custodian, reader):
        store = stores.open(name, world.gateways[name].directory / "storage")
        try:
            held[name] = store.has(cid)
        finally:
            store.close()
    return held[custodian] and not held[reader]
