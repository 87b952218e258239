"""The regulator reads a break-glass access's reason and justification wherever they are kept.

They are sealed to the regulator's audit key and kept by the reader's member gateway; the
chain holds only their keyed commitments. The regulator (its CLI, or its console's gateway):
1. reads the access on chain: reader, reason and justification commitments, review state;
2. finds the reader's gateway in the on-chain directory and signs in there as the regulator
   over TLS pinned to the registered fingerprint;
3. fetches the sealed texts (``GET /audit/break-glass/{id}/sealed``), opens each with its
   audit key, and recomputes each commitment: a gateway that altered, swapped or withheld a
   text is caught here, since only the true text and salt give the chain's commitment.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto import audit_seal
from crypto.errors import DecryptionError, FormatError
from sharing_api.chain import Alliance, Basis
from sharing_api.chain.scopes import Review
from sharing_api.gateway.peer_get import PeerTokens, get_as

ZERO = "0x" + "00" * 32


class NotBreakGlass(ValueError):
    """No such access on chain, or it is not a break-glass read."""


class TamperedText(ValueError):
    """A gateway answered a text that does not open, or whose commitment is not the chain's,
    or withheld one the chain commits to."""


@dataclass(frozen=True)
class BreakGlassOnChain:
    access_id: int
    record_id: int
    reader: str
    reason: str  # 0x-hex commitment
    justification: str | None  # None until justified
    review: Review


@dataclass(frozen=True)
class OpenedText:
    kind: str
    text: str
    commitment: str  # recomputed from the opened text and its salt
    matches_chain: bool


@dataclass(frozen=True)
class SealedText:
    kind: str
    envelope: bytes


def on_chain(alliance: Alliance, access_id: int) -> BreakGlassOnChain:
    found = [
        e for e in alliance.access.events("AccessLogged") if int(e.args["accessId"]) == access_id
    ]
    if not found:
        raise NotBreakGlass(f"no access {access_id} on chain")
    args = found[0].args
    basis = Basis(int(args["basis"]))
    if basis is not Basis.BREAK_GLASS:
        raise NotBreakGlass(f"access {access_id} is not a break-glass read (basis {basis.label})")
    justified = alliance.access.events("BreakGlassJustified", accessId=access_id)
    review, _reviewer = alliance.access.break_glass_review(access_id)
    return BreakGlassOnChain(
        access_id=access_id,
        record_id=int(args["recordId"]),
        reader=str(args["reader"]),
        reason="0x" + bytes(args["reasonHash"]).hex(),
        justification=(
            "0x" + bytes(justified[-1].args["justificationHash"]).hex() if justified else None
        ),
        review=review,
    )


def fetch_sealed(
    alliance: Alliance,
    reader: str,
    access_id: int,
    regulator_key: str | bytes,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
    tokens: PeerTokens | None = None,
) -> list[SealedText]:
    """The sealed texts the reader's gateway keeps, asked as the regulator (signed in there)."""
    rows, where = get_as(
        alliance,
        reader,
        regulator_key,
        f"/audit/break-glass/{access_id}/sealed",
        insecure_http=insecure_http,
        timeout=timeout,
        tokens=tokens,
    )
    try:
        return [
            SealedText(str(r["kind"]), bytes.fromhex(str(r["envelope"]).removeprefix("0x")))
            for r in rows
        ]
    except (KeyError, TypeError, ValueError):
        raise TamperedText(f"access {access_id}: {where} answered no sealed texts") from None


def open_checked(
    key: X25519PrivateKey, sealed: Iterable[SealedText], facts: BreakGlassOnChain
) -> dict[str, OpenedText]:
    """Each text opened and its commitment recomputed against the chain's. A text that does
    not open under the audit key counts as not matching (its text is left empty)."""
    chain = {"reason": facts.reason, "justification": facts.justification or ""}
    found: dict[str, OpenedText] = {}
    for s in sealed:
        if s.kind not in chain:
            continue
        try:
            opened = audit_seal.open_sealed(key, s.kind, s.envelope)
        except (DecryptionError, FormatError):
            found[s.kind] = OpenedText(s.kind, "", "", False)
            continue
        recomputed = "0x" + opened.commitment(s.kind).hex()
        matches = hmac.compare_digest(recomputed, chain[s.kind].lower())
        found[s.kind] = OpenedText(s.kind, opened.text, recomputed, matches)
    return found


def require_chain_texts(
    opened: dict[str, OpenedText], facts: BreakGlassOnChain, where: str
) -> None:
    """Refuse what a tampering gateway answers: a text the chain commits to that is missing,
    does not open, or whose commitment differs (TamperedText, naming which)."""
    wanted = {"reason": facts.reason, "justification": facts.justification}
    for kind, commitment in wanted.items():
        if commitment is None or commitment == ZERO:
            continue
        got = opened.get(kind)
        if got is None:
            raise TamperedText(
                f"access {facts.access_id}: {where} holds no {kind} (the chain commits to one)"
            )
        if not got.matches_chain:
            raise TamperedText(
                f"access {facts.access_id}: the {kind} from {where} does not match its "
                f"commitment on chain ({commitment[:18]}...): altered or not sealed to this "
                "audit key"
            )


def read_break_glass(
    alliance: Alliance,
    access_id: int,
    regulator_key: str | bytes,
    audit_key: X25519PrivateKey,
    *,
    insecure_http: bool = False,
    timeout: float = 30.0,
) -> tuple[BreakGlassOnChain, dict[str, OpenedText]]:
    """The regulator's whole path (`alliance audit break-glass show`): chain, directory,
    reader's gateway, audit key, commitments. Every text returned matches the chain."""
    facts = on_chain(alliance, access_id)
    sealed = fetch_sealed(
        alliance,
        facts.reader,
        access_id,
        regulator_key,
        insecure_http=insecure_http,
        timeout=timeout,
    )
    opened = open_checked(audit_key, sealed, facts)
    require_chain_texts(opened, facts, f"{facts.reader}'s gateway")
    # Only what the chain commits to: a justification the chain does not know yet is unproven.
    committed = {"reason": facts.reason, "justification": facts.justification}
    return facts, {k: t for k, t in opened.items() if committed.get(k) not in (None, ZERO)}
