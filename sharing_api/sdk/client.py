"""HTTP client of the sharing API. Keys never leave the caller: sign-in messages, consent
grants and revocations are signed here, and records are encrypted and decrypted here."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eth_account import Account

from crypto.authority import AuthorityParams, UserKey
from crypto.errors import PolicyError
from crypto.header import ReaderKeys
from crypto.labels import UNLABELLED, SecurityLabels
from crypto.policy import Attr, Gate, Node, leaves, parse_policy, to_text
from crypto.records import decrypt_record, encrypt_record, read_container_header, write_container
from crypto.suite import DEFAULT_SUITE, Suite, suite_by_name
from sharing_api.auth.siwe import SiweMessage, sign_message
from sharing_api.chain import Category, Purpose
from sharing_api.chain.scopes import mask
from sharing_api.chain.typed_data import (
    GrantTerms,
    grant_typed_data,
    revoke_typed_data,
    sign_typed_data,
)
from sharing_api.fhir import validate_resource, with_security_labels
from sharing_api.sdk.consultations import ConsultationCalls
from sharing_api.sdk.labelled import LabelsMixin
from sharing_api.sdk.proposals import ProposalsMixin
from sharing_api.sdk.referrals import ReferralCalls

ZERO_ADDRESS = "0x" + "00" * 20
NEXT_CURSOR = "X-Next-Cursor"  # the API's paging header (sharing_api/api/paging.py)
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


class ApiError(ValueError):
    """The API refused the request; ``problem`` is its application/problem+json body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        message = f"API {status}: {problem.get('detail') or problem.get('title')}"
        # A 422 names the fields it refused; "request does not match the schema" alone
        # leaves the caller guessing which one.
        fields = [_field_error(e) for e in problem.get("errors") or () if isinstance(e, dict)]
        if fields:
            message += ": " + "; ".join(fields)
        super().__init__(message)


def _field_error(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc") or ())
    return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))


class ApiUnreachable(ConnectionError):
    """No answer from the API: refused, timed out, or the connection dropped."""

    def __init__(self, url: str, reason: str, hint: str = "") -> None:
        self.url = url
        self.reason = reason
        message = f"cannot reach the sharing API at {url} ({reason})"
        super().__init__(f"{message}; {hint}" if hint else message)


def _unreachable(url: str, exc: httpx.TransportError, timeout_s: float) -> ApiUnreachable:
    if isinstance(exc, httpx.ConnectTimeout):
        reason = f"no connection within {timeout_s:g} s"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"no answer within {timeout_s:g} s"
    elif isinstance(exc, httpx.ConnectError):
        text = str(exc)
        reason = "connection refused" if "refused" in text.lower() else text or "cannot connect"
    else:
        reason = f"connection lost: {exc}" if str(exc) else "connection lost"
    return ApiUnreachable(url, reason)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:200]}
        raise ApiError(response.status_code, problem)


def _interruptible(record_id: int, response: httpx.Response) -> Iterator[bytes]:
    """The body's chunks; a stream that breaks off is one clear error, not an httpx one."""
    received = 0
    try:
        for chunk in response.iter_bytes():
            received += len(chunk)
            yield chunk
    except httpx.HTTPError as exc:
        raise DownloadInterrupted(
            f"record {record_id}: the download broke off after {received} bytes ({exc}); "
            "nothing was written"
        ) from None


@dataclass
class Download:
    headers: dict[str, str]
    size: int | None  # None when the API streams without a length (records over 1 MiB)
    chunks: Iterator[bytes]


class DownloadInterrupted(OSError):
    """The ciphertext stream broke off (the gateway or the custodian's gateway failed)."""


class SharingClient(ProposalsMixin, ConsultationCalls, ReferralCalls, LabelsMixin):
    def __init__(
        self, base_url: str, token: str = "", *, timeout: float = 60.0, verify: Any = True
    ) -> None:
        """``verify``: how to trust the gateway's TLS certificate (True: the system's CAs;
        a path: the gateway's own self-signed ``tls/cert.pem``)."""
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify)
        self.token = token

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SharingClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._headers(), **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc, self.timeout) from exc
        _raise_for(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response's JSON. A list comes whole: its pages are followed through
        ``X-Next-Cursor`` to the last one, unless ``params`` name a ``cursor`` (one page)."""
        response = self.request(method, path, **kwargs)
        out = response.json()
        params = dict(kwargs.pop("params", None) or {})
        if method.upper() != "GET" or not isinstance(out, list) or "cursor" in params:
            return out
        while cursor := response.headers.get(NEXT_CURSOR):
            response = self.request(method, path, params={**params, "cursor": cursor}, **kwargs)
            out.extend(response.json())
        return out

    def page(self, path: str, cursor: str | None = None, **params: Any) -> tuple[list[Any], str]:
        """One page of a list and the next page's cursor ("" after the last page)."""
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = self.request("GET", path, params=query)
        return response.json(), response.headers.get(NEXT_CURSOR, "")

    # ---- sign-in -----------------------------------------------------------------------------

    def login(
        self, private_key: str | bytes, pseudonym_keys: Iterable[str | bytes] = ()
    ) -> dict[str, Any]:
        """Sign in with EIP-4361 as the key's address; keeps the token. ``pseudonym_keys``:
        a patient's pairwise pseudonyms, each signing the same message, so the one token
        covers them all (``sharing_api.sdk.patient_wallet.PatientWallet.login``)."""
        account = Account.from_key(private_key)
        facts = self.json("POST", "/auth/nonce")
        now = datetime.now(UTC)
        message = SiweMessage(
            domain=facts["domain"],
            address=account.address,
            statement="Sign in to the alliance sharing API.",
            uri=self.base_url,
            chain_id=int(facts["chain_id"]),
            nonce=facts["nonce"],
            issued_at=now,
            expiration_time=now + timedelta(minutes=5),
        )
        body: dict[str, Any] = {
            "message": message.to_text(),
            "signature": sign_message(message, private_key),
        }
        pseudonyms = [
            {"address": Account.from_key(k).address, "signature": sign_message(message, k)}
            for k in pseudonym_keys
        ]
        if pseudonyms:
            body["pseudonyms"] = pseudonyms
        out: dict[str, Any] = self.json("POST", "/auth/login", json=body)
        self.token = out["access_token"]
        return out

    def staff_client(
        self, staff_id: str, role: str, attributes: Iterable[str] = (), gid: str | None = None
    ) -> Any:
        """A member's client issues a staff token and returns a client acting as that staff.
        ``gid``: the staff member's own key address (``sharing_api.sdk.identity``), which the
        member binds to this staff id for RW15 keys (``sharing_api.sdk.gid_keys``)."""
        body: dict[str, Any] = {"staff_id": staff_id, "role": role, "attributes": list(attributes)}
        if gid is not None:
            body["gid"] = check_address(gid, "gid")
        out = self.json("POST", "/auth/staff-tokens", json=body)
        return SharingClient(self.base_url, out["access_token"], verify=self.verify)

    def revoke_staff(self, staff_id: str, rotate: bool = True) -> dict[str, Any]:
        """As a member: revoke one of its staff. Their tokens stop working at once; with
        ``rotate`` (the default) the member's authority moves to a new generation if they
        hold a live ABE key, and every other live key is re-issued (``my_reissued_keys``)."""
        params = {"rotate": "true" if rotate else "false"}
        out: dict[str, Any] = self.json("POST", f"/auth/staff/{staff_id}/revoke", params=params)
        return out

    def reveal_staff(self, pseudonym: str) -> dict[str, Any]:
        """As the regulator: who a staff pseudonym of a member hosted here stands for (the
        gateway records the reveal on chain first)."""
        out: dict[str, Any] = self.json("GET", f"/audit/staff/{pseudonym}")
        return out

    # ---- keys --------------------------------------------------------------------------------

    def authority_params(self, authority: str) -> AuthorityParams:
        raw = self.request("GET", f"/keys/authorities/{authority}/params").content
        return AuthorityParams.from_bytes(raw)

    def authorities(self) -> dict[str, str]:
        """The attribute authorities this API serves: authority id -> member address."""
        rows: list[dict[str, Any]] = self.json("GET", "/keys/authorities")
        return {str(r["authority"]): str(r["member"]).lower() for r in rows}

    def my_authority(self) -> str | None:
        """The authority id of the caller's member (a staff token: its member's), or None if
        that member is no attribute authority on this API (or the caller is a patient)."""
        member = str(self.json("GET", "/auth/me").get("member") or "").lower()
        mine = [a for a, m in self.authorities().items() if member and m == member]
        return mine[0] if mine else None

    def policy_for_sealing(self, policy: str) -> tuple[str, list[AuthorityParams]]:
        """The policy with every attribute prefixed by its authority, and those authorities'
        parameters. Unprefixed attributes (``role:doctor``) are the caller's own member's,
        as in ``alliance abe``; an authority this API does not know is one clear error."""
        tree = parse_policy(policy)  # a syntax error costs no request
        own = self.my_authority() if any(a.authority is None for a in leaves(tree)) else None
        qualified = qualify_policy(tree, own)
        named = sorted({str(a.authority) for a in leaves(parse_policy(qualified))})
        params = []
        for authority in named:
            # Not only the authorities hosted here: the gateway fetches another member's
            # parameters from that member's gateway (checked against its hash on chain).
            try:
                params.append(self.authority_params(authority))
            except ApiError as exc:
                if exc.status != 404:
                    raise
                known = self.authorities()
                raise PolicyError(
                    f"policy names no known attribute authority {authority!r} "
                    f"(this API knows: {', '.join(sorted(known)) or 'none'})"
                ) from None
        return qualified, params

    def crypto_suite(self) -> Suite:
        """The alliance's cipher suite as this gateway is configured (``/health``): what
        :meth:`seal` should be given. An older gateway that does not say means AES."""
        named = self.json("GET", "/health").get("crypto_suite")
        return suite_by_name(str(named)) if named else DEFAULT_SUITE

    def issue_my_key(self, valid_days: int = 30) -> UserKey:
        out = self.json("POST", "/keys", json={"valid_days": valid_days})
        return UserKey.from_bytes(base64.b64decode(out["key"]))

    def my_reissued_keys(self) -> list[UserKey]:
        """As staff: the keys of the current generation your member re-issued to you when
        it rotated its authority (keep your older keys: they open records sealed before)."""
        rows: list[dict[str, Any]] = self.json("GET", "/keys")
        return [UserKey.from_bytes(base64.b64decode(r["key"])) for r in rows]

    # ---- records -----------------------------------------------------------------------------

    @staticmethod
    def seal(
        plaintext: bytes,
        policy: str,
        params: list[AuthorityParams],
        suite: Suite | str = DEFAULT_SUITE,
        labels: SecurityLabels = UNLABELLED,
    ) -> bytes:
        """Encrypt locally into one container (header + streamed AEAD body) in ``suite``
        (``aes-256-gcm`` or ``sm4-gcm``; :meth:`crypto_suite` is the gateway's setting).
        Opening needs no suite: the container names it. ``labels`` (DS4P) go into the
        sealed header, never on chain."""
        body = io.BytesIO()
        header = encrypt_record(
            io.BytesIO(plaintext), body, policy, params, suite=suite_by_name(suite), labels=labels
        )
        out = io.BytesIO()
        write_container(header, out)
        out.write(body.getvalue())
        return out.getvalue()

    @staticmethod
    def open(container: bytes, key: ReaderKeys) -> bytes:
        """Decrypt locally with a FAME key, an RW15 key bundle, or several of them."""
        src = io.BytesIO(container)
        header = read_container_header(src)
        out = io.BytesIO()
        decrypt_record(header, src, out, key)
        return out.getvalue()

    @staticmethod
    def seal_fhir(
        resource: bytes | str | dict[str, Any],
        policy: str,
        params: list[AuthorityParams],
        suite: Suite | str = DEFAULT_SUITE,
        labels: SecurityLabels = UNLABELLED,
    ) -> bytes:
        """Validate a FHIR R4 resource or bundle (``fhir.resources``), then encrypt it: an
        invalid document raises FhirError (a ValueError) before anything is encrypted or sent.
        A labelled record's document carries its labels in ``meta.security`` too."""
        document = validate_resource(resource)
        if not labels.unlabelled:
            document = with_security_labels(document, labels)
        plaintext = json.dumps(document, ensure_ascii=False).encode()
        return SharingClient.seal(plaintext, policy, params, suite, labels)

    def supersede(
        self, record_id: int, policy: str, ciphertext: bytes | Iterator[bytes]
    ) -> dict[str, Any]:
        """Publish a new version of a record this member keeps; the old one is superseded."""
        parse_policy(policy)  # refused here, before the body goes out
        params: dict[str, str] = {"policy": policy}
        if isinstance(ciphertext, bytes):
            params["sha256"] = hashlib.sha256(ciphertext).hexdigest()
        out: dict[str, Any] = self.json(
            "POST",
            f"/records/{record_id}/supersede",
            params=params,
            content=ciphertext,
            headers={"Content-Type": "application/octet-stream"},
        )
        return out

    def upload(
        self, patient: str, category: str, policy: str, ciphertext: bytes | Iterator[bytes]
    ) -> dict[str, Any]:
        # The API would refuse these too, but only after the whole body went out.
        check_address(patient, "patient")
        Category.parse(category)
        parse_policy(policy)
        params: dict[str, str] = {"patient": patient, "category": category, "policy": policy}
        if isinstance(ciphertext, bytes):
            params["sha256"] = hashlib.sha256(ciphertext).hexdigest()
        out: dict[str, Any] = self.json(
            "POST",
            "/records",
            params=params,
            content=ciphertext,
            headers={"Content-Type": "application/octet-stream"},
        )
        return out

    def erase_record(self, record_id: int) -> list[dict[str, Any]]:
        """Erase a record and its versions (as its patient, or its custodian), at the
        custodian's gateway; the versions as they stand now (``erased`` true)."""
        out: list[dict[str, Any]] = self.json("POST", f"/records/{record_id}/erase")
        return out

    def fetch(self, record_id: int, **params: Any) -> tuple[bytes, dict[str, str]]:
        """The ciphertext (the access is logged on chain first) and the response headers."""
        with self.download(record_id, **params) as download:
            data = b"".join(download.chunks)
        return data, download.headers

    @contextmanager
    def download(self, record_id: int, **params: Any) -> Iterator[Download]:
        """Stream a record's ciphertext (for progress bars and large records)."""
        query = {k: v for k, v in params.items() if v is not None}
        if "purpose" in query:
            Purpose.parse(str(query["purpose"]))
        path = f"/records/{record_id}/content"
        try:
            with self.http.stream("GET", path, params=query, headers=self._headers()) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                length = response.headers.get("content-length")
                yield Download(
                    dict(response.headers),
                    int(length) if length and length.isdigit() else None,
                    _interruptible(record_id, response),
                )
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc, self.timeout) from exc

    # ---- consents (patient side: signs locally) ---------------------------------------------

    def attest_patient(self, patient: str) -> dict[str, Any]:
        """As a member: attest that you verified this patient's real identity, so gateways
        relay their consents (POST /patients/{address}/attest)."""
        check_address(patient, "patient")
        out: dict[str, Any] = self.json("POST", f"/patients/{patient}/attest")
        return out

    def grant_consent(
        self,
        patient_key: str | bytes,
        *,
        grantee: str = ZERO_ADDRESS,
        grantee_role: int = 0,
        categories: Iterable[str],
        purposes: Iterable[str],
        valid_for_s: int = 30 * 86_400,
        deadline_s: int = 600,
        coarse_times: bool = False,
    ) -> dict[str, Any]:
        """``coarse_times``: round the signed times (a pairwise pseudonym's consents must
        not be linkable to the same patient's other pseudonyms by when they were signed)."""
        patient = Account.from_key(patient_key).address
        # Bad terms are refused before any request, not as a 422 (or a hex error) later.
        check_address(grantee, "grantee")
        cats, purps = list(categories), list(purposes)
        category_mask = mask(Category.parse(c) for c in cats)
        purpose_mask = mask(Purpose.parse(p) for p in purps)
        domain = self.json("GET", "/consents/domain", params={"patient": patient})
        now = int(datetime.now(UTC).timestamp())
        valid_from, valid_until, deadline = now - 120, now + valid_for_s, now + deadline_s
        if coarse_times:  # start back to the hour, end and deadline forward
            valid_from, valid_until = _floor(valid_from, 3600), _ceil(valid_until, 3600)
            deadline = _ceil(deadline, COARSE_DEADLINE_S)
        terms = GrantTerms(
            patient=patient,
            grantee=grantee,
            grantee_role=grantee_role,
            categories=category_mask,
            purposes=purpose_mask,
            valid_from=valid_from,
            valid_until=valid_until,
            document_hash=b"\x00" * 32,
            nonce=int(domain["nonce"]),
            deadline=deadline,
        )
        typed = grant_typed_data(terms, int(domain["chain_id"]), domain["consent_registry"])
        sig = sign_typed_data(typed, patient_key)
        body = grant_body(terms, cats, purps, sig.v, sig.r, sig.s)
        out: dict[str, Any] = self.json("POST", "/consents", json=body)
        return out

    def revoke_consent(
        self, patient_key: str | bytes, consent_id: int, *, coarse_times: bool = False
    ) -> dict[str, Any]:
        patient = Account.from_key(patient_key).address
        domain = self.json("GET", "/consents/domain", params={"patient": patient})
        deadline = int(datetime.now(UTC).timestamp()) + 600
        if coarse_times:
            deadline = _ceil(deadline, COARSE_DEADLINE_S)
        typed = revoke_typed_data(
            patient,
            consent_id,
            int(domain["nonce"]),
            deadline,
            int(domain["chain_id"]),
            domain["consent_registry"],
        )
        sig = sign_typed_data(typed, patient_key)
        body = {
            "nonce": int(domain["nonce"]),
            "deadline": deadline,
            "signature": {"v": sig.v, "r": "0x" + sig.r.hex(), "s": "0x" + sig.s.hex()},
        }
        out: dict[str, Any] = self.json("POST", f"/consents/{consent_id}/revoke", json=body)
        return out


COARSE_DEADLINE_S = 600  # everyone signing in the same 10 minutes shares a deadline


def _floor(t: int, step: int) -> int:
    return t - t % step


def _ceil(t: int, step: int) -> int:
    return -(-t // step) * step


def check_address(value: str, what: str) -> str:
    """``value`` if it is an account address (0x and 40 hex digits), else ValueError."""
    if not ADDRESS_RE.fullmatch(value):
        raise ValueError(f"{what}: not an address (0x followed by 40 hex digits): {value!r}")
    return value


def qualify_policy(policy: str | Node, authority: str | None) -> str:
    """The canonical policy text with ``authority.`` before every unprefixed attribute."""

    def qualify(node: Node) -> Node:
        if isinstance(node, Attr):
            if node.authority is not None:
                return node
            if authority is None:
                raise PolicyError(
                    f"attribute {node.name!r} names no authority and your member is no "
                    f"attribute authority here: write it as <authority>.{node.name}"
                )
            return Attr(f"{authority}.{node.name}")
        return Gate(node.threshold, tuple(qualify(c) for c in node.children))

    return to_text(qualify(parse_policy(policy) if isinstance(policy, str) else policy))


def grant_body(
    terms: GrantTerms, categories: list[str], purposes: list[str], v: int, r: bytes, s: bytes
) -> dict[str, Any]:
    """The JSON the API takes for a signed grant."""
    return {
        "patient": terms.patient,
        "grantee": terms.grantee,
        "grantee_role": terms.grantee_role,
        "categories": categories,
        "purposes": purposes,
        "valid_from": terms.valid_from,
        "valid_until": terms.valid_until,
        "document_hash": "0x" + terms.document_hash.hex(),
        "nonce": terms.nonce,
        "deadline": terms.deadline,
        "signature": {"v": v, "r": "0x" + r.hex(), "s": "0x" + s.hex()},
    }
