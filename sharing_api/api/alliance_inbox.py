"""The patient sees one alliance: their referral proposals from every member's gateway.

Records, accesses, consents and referrals are on chain, so every gateway's index already
shows all of them. Referral proposals are not: each is a row in the proposing member's
gateway (``index/proposals.py``). So the patient's own ("home") gateway, the one serving
their wallet, aggregates:

- **List.** The wallet signs a short-lived inbox statement (``gateway/inbox_auth.py``) naming
  the patient, this gateway's *relay* member (the audience), the chain and an expiry
  (<= 10 min). The home gateway lists its own proposals and, in parallel, asks every other
  hospital or clinic gateway in the on-chain directory (grouped by URL + fingerprint, so a
  cloud gateway hosting several members is asked once; over TLS pinned by ``PeerFetcher``)
  with the statement in the body and a request signed by the relay member. Each peer checks
  both before answering. Each peer gets ``inbox_timeout_s``; the whole listing waits that long
  (plus a second) at most, and a peer that failed or did not answer is named in
  ``unreachable``, next to whatever the others answered.
- **Pseudonyms.** A patient signed in with pairwise pseudonyms (``Principal.owns``) lists
  proposals naming any of them: the wallet adds one inbox statement per pseudonym, signed
  by that pseudonym's key and tagged with its custodian (the member whose records are under
  it). A proposal naming the M-pseudonym is made by M, so each peer gets only the
  statements of the custodians it hosts, in one request, and checks every one as it checks
  the primary's. The primary's statement is relayed only when there are no pseudonyms (a
  wallet from before them): with them, no peer sees two of one patient's addresses unless
  it hosts both custodians. Proposals still naming the primary are found at this gateway
  only.
- **Identity.** Proposal ids are per gateway; the proposing member (``referrer``) is hosted by
  exactly one gateway, so (referrer, proposal_id) names a proposal alliance-wide and routes
  an answer to its origin. A peer's answer is kept only for proposals of this patient made by
  a member that gateway hosts (per the directory): a peer cannot speak for another member.
- **Labels.** A peer answers with the security labels of the records it received for the
  addresses asked about, too (``api/record_labels.py``): the wallet warns before a consent
  covers sensitive records kept at another gateway.
- **Answer.** Accept: the wallet's EIP-712 ReferralConsent goes to the origin gateway, which
  checks it exactly as for a local accept and submits ``createWithSig`` as the referrer.
  Decline: a patient-signed decline statement goes to the origin, which checks it. Both
  travel in a body signed by the relay member.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field, ValidationError

from sharing_api.api.errors import ApiError
from sharing_api.api.lookups import member_infos
from sharing_api.api.proposals import AcceptIn, ProposalOut
from sharing_api.api.record_labels import RecordLabelsOut, trusted_labels
from sharing_api.api.schemas import AddressField
from sharing_api.api.services import Services
from sharing_api.auth.pseudonym_proofs import MAX_PSEUDONYMS
from sharing_api.chain.scopes import Role
from sharing_api.gateway.inbox_auth import sign_relay
from sharing_api.gateway.peers import PeerError

HexSignature = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$")]
PEER_INBOX_PATH = "/gateway/referral-proposals/inbox"


# ---- what travels between gateways ----------------------------------------------------------


class InboxStatementIn(BaseModel):
    """The patient's signed "list my referral proposals" (``inbox_auth.inbox_text``)."""

    expires: Annotated[int, Field(ge=0, lt=2**63)]
    signature: HexSignature


class PseudonymStatementIn(InboxStatementIn):
    """The same statement made for one pseudonym, signed by that pseudonym's key."""

    patient: AddressField
    custodian: AddressField = Field(
        description="the member whose records are under this pseudonym: its statement goes "
        "to that member's gateway only"
    )


class InboxIn(InboxStatementIn):
    """The wallet's listing: the primary's statement (as before) and one per pseudonym."""

    pseudonyms: list[PseudonymStatementIn] = Field(
        default_factory=list,
        max_length=MAX_PSEUDONYMS,
        description="one inbox statement per pseudonym proven at sign-in, each signed by it",
    )

    def statements(self, primary: str) -> list[tuple[str, int, str]]:
        """(patient, expires, signature) of the primary, then of each pseudonym."""
        return [
            (primary, self.expires, self.signature),
            *((p.patient, p.expires, p.signature) for p in self.pseudonyms),
        ]


class PeerInboxIn(InboxIn):
    """Relayed to a peer: the primary's address too. A peer that predates ``pseudonyms``
    ignores them and answers for the primary alone."""

    patient: AddressField


class PeerInboxOut(BaseModel):
    proposals: list[ProposalOut]
    # The labels of the asked addresses' records kept by its members (none from older peers).
    labels: list[RecordLabelsOut] = Field(default_factory=list, max_length=10_000)


class InboxAcceptIn(AcceptIn):
    patient: AddressField | None = Field(
        default=None,
        description="the address the proposal names and whose key signed (one proven at "
        "sign-in); default: the signed-in primary",
    )


class PeerAcceptIn(AcceptIn):
    patient: AddressField
    referrer: AddressField


class DeclineStatementIn(BaseModel):
    """The patient's signed decline (``inbox_auth.decline_text``)."""

    note: str = Field(default="", max_length=1024)
    expires: Annotated[int, Field(ge=0, lt=2**63)]
    signature: HexSignature


class InboxDeclineIn(DeclineStatementIn):
    patient: AddressField | None = Field(
        default=None,
        description="the address the proposal names and that signed the decline (one proven "
        "at sign-in); default: the signed-in primary",
    )


class PeerDeclineIn(DeclineStatementIn):
    patient: AddressField
    referrer: AddressField


# ---- what the wallet gets --------------------------------------------------------------------


class InboxProposalOut(ProposalOut):
    referrer_name: str
    origin_url: str  # the gateway that holds it ("" : this one)


class UnreachableOut(BaseModel):
    gateway_url: str
    members: list[str]
    names: list[str]
    detail: str


class InboxOut(BaseModel):
    relay: str  # the member this gateway asked the others as
    proposals: list[InboxProposalOut]
    unreachable: list[UnreachableOut]
    # Security labels of the patient's records held by other gateways (api/record_labels.py).
    labels: list[RecordLabelsOut] = Field(default_factory=list)


@dataclass(frozen=True)
class PeerGateway:
    url: str
    members: tuple[str, ...]  # lowercase addresses of the hospitals/clinics it hosts
    names: tuple[str, ...]


def relay_member(services: Services) -> str:
    """The hosted member this gateway signs relayed requests as (the first, for stability)."""
    if not services.hosted:
        raise ApiError(503, "this gateway hosts no member to relay for the patient")
    return sorted(services.hosted)[0]


def peer_gateways(services: Services) -> tuple[list[PeerGateway], dict[str, str]]:
    """Other gateways hosting hospitals or clinics, from the directory; and every name."""
    groups: dict[tuple[str, bytes], list[tuple[str, str]]] = {}
    names: dict[str, str] = {}
    for address, info, entry in member_infos(services):
        names[address] = info.name
        if entry is None or not info.active or services.hosts(address):
            continue
        if not info.roles & (Role.HOSPITAL | Role.CLINIC):
            continue
        groups.setdefault((entry.url.rstrip("/"), entry.fingerprint), []).append(
            (address, info.name)
        )
    peers = [
        PeerGateway(url, tuple(a for a, _ in found), tuple(n for _, n in found))
        for (url, _), found in sorted(groups.items())
    ]
    return peers, names


def _signed(services: Services, to: str, path: str, body: bytes) -> dict[str, str]:
    key = services.signer(relay_member(services)).client.account.key
    return sign_relay(bytes(key), to, "POST", path, body)


def _ask(services: Services, peer: PeerGateway, body: bytes) -> PeerInboxOut:
    to = peer.members[0]
    answer = services.peers.post_json(
        to,
        PEER_INBOX_PATH,
        body,
        _signed(services, to, PEER_INBOX_PATH, body),
        timeout=services.settings.inbox_timeout_s,
    )
    try:
        return PeerInboxOut.model_validate(answer)
    except ValidationError:
        raise PeerError(502, f"{to}'s gateway answered something that is not an inbox") from None


def peer_bodies(
    peers: list[PeerGateway], primary: str, statement: InboxIn
) -> dict[str, tuple[bytes, frozenset[str]]]:
    """What each peer is asked (by URL): the request body and the addresses it names. With
    pseudonyms, a peer gets only those of custodians it hosts (none: it is not asked); else
    the primary's statement, as before pseudonyms."""
    out: dict[str, tuple[bytes, frozenset[str]]] = {}
    for peer in peers:
        if statement.pseudonyms:
            mine = [p for p in statement.pseudonyms if p.custodian.lower() in peer.members]
            if not mine:
                continue
            first, rest = mine[0], mine[1:]
            relayed = PeerInboxIn(
                patient=first.patient,
                expires=first.expires,
                signature=first.signature,
                pseudonyms=rest,
            )
        else:
            relayed = PeerInboxIn(
                patient=primary, expires=statement.expires, signature=statement.signature
            )
        names = frozenset(
            a.lower() for a in [relayed.patient, *(p.patient for p in relayed.pseudonyms)]
        )
        out[peer.url] = (json.dumps(relayed.model_dump(), sort_keys=True).encode(), names)
    return out


def gather(
    services: Services, primary: str, statement: InboxIn, local: list[ProposalOut]
) -> InboxOut:
    """This gateway's proposals plus every peer's, asked in parallel within the time bound:
    one request per peer, carrying the statements of the custodians it hosts."""
    peers, names = peer_gateways(services)
    bodies = peer_bodies(peers, primary, statement)
    asked = [peer for peer in peers if peer.url in bodies]
    out = [InboxProposalOut(**p.model_dump(), referrer_name="", origin_url="") for p in local]
    labels: list[RecordLabelsOut] = []
    unreachable: list[UnreachableOut] = []
    if asked:
        pool = ThreadPoolExecutor(max_workers=min(8, len(asked)), thread_name_prefix="inbox")
        futures: dict[Future[PeerInboxOut], PeerGateway] = {
            pool.submit(_ask, services, peer, bodies[peer.url][0]): peer for peer in asked
        }
        limit = services.settings.inbox_timeout_s + 1.0
        wait(futures, timeout=limit)
        pool.shutdown(wait=False, cancel_futures=True)  # a hung peer must not hold the answer
        for future, peer in futures.items():
            problem = _outcome(services, future, peer, bodies[peer.url][1], (out, labels), limit)
            if problem:
                unreachable.append(
                    UnreachableOut(
                        gateway_url=peer.url,
                        members=list(peer.members),
                        names=list(peer.names),
                        detail=problem,
                    )
                )
    for p in out:
        p.referrer_name = names.get(p.referrer, "")
    out.sort(key=lambda p: (p.created_at, p.referrer, p.proposal_id), reverse=True)
    return InboxOut(
        relay=relay_member(services), proposals=out, unreachable=unreachable, labels=labels
    )


def _outcome(
    services: Services,
    future: Future[PeerInboxOut],
    peer: PeerGateway,
    patients: frozenset[str],
    into: tuple[list[InboxProposalOut], list[RecordLabelsOut]],
    limit: float,
) -> str:
    """Add a peer's proposals and labels to ``into``; what went wrong ("" when nothing)."""
    if not future.done():
        return f"no answer within {limit:.0f} s"
    out, labels = into
    try:
        answer = future.result()
    except PeerError as exc:
        return exc.detail
    except Exception as exc:  # a peer must not take the whole inbox down with it
        return f"{type(exc).__name__}: {exc}"
    kept, refused = trusted_labels(services.index, answer.labels, patients, peer.members)
    labels.extend(kept)
    foreign = 0
    for p in answer.proposals:
        # A peer speaks only for the members it hosts, and only about this patient (any of
        # the addresses whose statements it was given).
        if p.patient not in patients or p.referrer not in peer.members:
            foreign += 1
            continue
        out.append(InboxProposalOut(**p.model_dump(), referrer_name="", origin_url=peer.url))
    problems = [f"ignored {foreign} proposal(s) not made by a member it hosts"] if foreign else []
    if refused:
        problems.append(f"ignored {refused} label(s) of records not kept by a member it hosts")
    return "; ".join(problems)


def forward(
    services: Services, referrer: str, proposal_id: int, action: str, body: BaseModel
) -> ProposalOut:
    """Send a patient's answer to the gateway of the member who made the proposal."""
    if not services.is_member(referrer):  # the caller named no member: nothing to relay to
        raise ApiError(404, f"{referrer} is not a member of the alliance", "Not Found")
    path = f"/gateway/referral-proposals/{proposal_id}/{action}"
    raw = json.dumps(body.model_dump(), sort_keys=True).encode()
    try:
        answer = services.peers.post_json(
            referrer, path, raw, _signed(services, referrer, path, raw)
        )
        return ProposalOut.model_validate(answer)
    except PeerError as exc:
        # The peer's verdict on the patient's answer passes through; a relay failure is ours.
        status = exc.status if exc.status in (400, 403, 404, 409, 422) else 502
        raise ApiError(status, exc.detail) from None
    except ValidationError:
        raise ApiError(502, f"{referrer}'s gateway answered something unexpected") from None
