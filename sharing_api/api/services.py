"""Everything a request needs, built once per app: chain wrappers, storage, index, tokens."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account
from eth_utils.address import to_checksum_address

from crypto.authority import AttributeAuthority
from sharing_api.api.console_state import ConsoleState
from sharing_api.api.core.config import ApiSettings, HostedMember
from sharing_api.api.core.jwt_secret import token_secret
from sharing_api.api.core.keys import AuthorityFile, unlock_members
from sharing_api.api.core.limits import Limiter
from sharing_api.api.core.security import DEFAULT_AUDIENCE, NonceStore, TokenService
from sharing_api.api.errors import forbidden
from sharing_api.api.metrics import Metrics
from sharing_api.chain import Alliance, ChainClient, Deployment, Role
from sharing_api.chain.access_batch import AccessBatcher
from sharing_api.chain.fastcall import FastCalls
from sharing_api.gateway.authorities import RemoteAuthorities
from sharing_api.gateway.peers import Directory, PeerFetcher
from sharing_api.index import IndexDB, Indexer
from sharing_api.index.break_glass import BreakGlassStore
from sharing_api.index.console_results import VerificationStore
from sharing_api.index.consultation_texts import ConsultationTextStore
from sharing_api.index.consultations import ConsultationQueries
from sharing_api.index.credentials import CredentialStore
from sharing_api.index.proposals import ProposalStore
from sharing_api.index.referral_texts import ReferralTextStore
from sharing_api.index.served import ServedAccesses
from sharing_api.index.staff import StaffStore
from sharing_api.index.supervision_thresholds import ThresholdStore
from sharing_api.staff.pseudonym import load_or_create_secret, pseudonym
from sharing_api.storage.base import Storage
from sharing_api.storage.config import open_storage


@dataclass
class Services:
    settings: ApiSettings
    deployment: Deployment

    @property
    def crypto_suite(self) -> str:
        """The alliance's data encryption (the genesis's; the gateway's setting agrees)."""
        return self.deployment.crypto_suite

    reader: Alliance  # eth_call only: no key of value behind it
    hosted: dict[str, Alliance]  # checksum address -> a signer for that member
    authorities: dict[str, AttributeAuthority]  # checksum member address -> ABE master key
    storage: Storage
    index: IndexDB
    indexer: Indexer
    tokens: TokenService
    nonces: NonceStore
    fast: FastCalls  # raw eth_calls of the fetch path
    served: ServedAccesses  # access ids this gateway has served to other gateways
    peers: PeerFetcher  # other members' gateways, found in the on-chain directory
    remote_authorities: RemoteAuthorities  # other members' ABE parameters, hash-checked
    console: ConsoleState  # the regulator console's verification state
    proposals: ProposalStore  # referral proposals waiting for patients (off chain)
    staff: StaffStore  # staff pseudonyms issued, staff revoked, ABE keys issued to staff
    credentials: CredentialStore  # staff GIDs, credentials an authority verified (RW15)
    break_glass: BreakGlassStore  # per-person turns, reasons sealed to the regulator
    referral_texts: ReferralTextStore  # referral reasons and notes written here, with salts
    limits: Limiter  # rate limits and quotas (settings.rate_limits), in the index DB
    member_config: dict[str, HostedMember] = field(default_factory=dict)  # checksum address ->
    # checksum address -> where its authority is sealed (a rotation saves the new generation)
    authority_files: dict[str, AuthorityFile] = field(default_factory=dict)
    audit_keys: dict[str, X25519PrivateKey] = field(default_factory=dict)  # regulator -> key
    metrics: Metrics = field(default_factory=Metrics)
    batchers: dict[str, AccessBatcher] = field(default_factory=dict)
    _batch_lock: threading.Lock = field(default_factory=threading.Lock)
    # record id -> the record's fields that never change on chain (patient, category,
    # custodian, cid, content hash): the fetch path reads them without the index DB.
    fixed_records: dict[int, dict[str, Any]] = field(default_factory=dict)
    _members_seen: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _pseudonym_secrets: dict[str, bytes] = field(default_factory=dict)
    _consultations: ConsultationQueries | None = None
    _consultation_texts: ConsultationTextStore | None = None

    @property
    def consultations(self) -> ConsultationQueries:
        """Consultations as indexed (tables in the index DB, built with it)."""
        if self._consultations is None:
            self._consultations = ConsultationQueries(self.index.engine)
        return self._consultations

    @property
    def consultation_texts(self) -> ConsultationTextStore:
        """Consultation questions and notes written here, with salts (created on first use)."""
        if self._consultation_texts is None:
            self._consultation_texts = ConsultationTextStore(self.index.engine)
        return self._consultation_texts

    @classmethod
    def build(
        cls,
        settings: ApiSettings,
        storage: Storage | None = None,
        passphrase: str | None = None,
    ) -> Services:
        """Unlock the hosted members' key files first (``passphrase``, else the settings'
        passphrase file or $ALLIANCE_PASSPHRASE): a wrong one fails before anything runs."""
        unlocked = unlock_members(settings, passphrase)
        secret = token_secret(settings)
        deployment = Deployment.load(settings.resolved_deployment_file())
        if settings.crypto_suite not in (None, deployment.crypto_suite):
            raise ValueError(
                f"crypto_suite {settings.crypto_suite} differs from the alliance's "
                f"{deployment.crypto_suite} (deployment.json, from the genesis): remove the "
                "gateway's setting, or make it the alliance's"
            )
        base = ChainClient(
            settings.chain_url, Account.create().key, timeout=settings.chain_timeout_s
        )
        reader = Alliance(base, deployment)
        hosted: dict[str, Alliance] = {}
        authorities: dict[str, AttributeAuthority] = {}
        member_config: dict[str, HostedMember] = {}
        audit_keys: dict[str, X25519PrivateKey] = {}
        authority_files: dict[str, AuthorityFile] = {}
        for config, member in zip(settings.members, unlocked, strict=True):
            signer = reader.as_account(member.ledger_key)
            hosted[signer.client.address] = signer
            member_config[signer.client.address] = config
            if member.authority is not None:
                authorities[signer.client.address] = member.authority
                if config.authority_key_file:
                    authority_files[signer.client.address] = AuthorityFile(
                        Path(config.authority_key_file), member.passphrase
                    )
            if member.audit_key is not None:
                audit_keys[signer.client.address] = member.audit_key
        peers = PeerFetcher(
            Directory(reader.registry, settings.directory_ttl_s),
            insecure_http=settings.insecure_http,
            timeout=settings.peer_timeout_s,
        )
        index = IndexDB(settings.resolved_database_url())
        indexer = Indexer(index, base.w3, deployment)
        return cls(
            settings=settings,
            deployment=deployment,
            reader=reader,
            hosted=hosted,
            authorities=authorities,
            storage=storage or open_storage(settings.resolved_storage()),
            index=index,
            indexer=indexer,
            tokens=TokenService(
                secret, settings.token_ttl_s, audience=settings.public_url or DEFAULT_AUDIENCE
            ),
            nonces=NonceStore(
                index.engine, settings.nonce_ttl_s, limit=settings.rate_limits.nonces_live
            ),
            limits=Limiter(index.engine, settings.rate_limits),
            served=ServedAccesses(index.engine),
            console=ConsoleState(
                store=VerificationStore(index.engine), thresholds=ThresholdStore(index.engine)
            ),
            proposals=ProposalStore(index.engine),
            staff=StaffStore(index.engine),
            credentials=CredentialStore(index.engine),
            break_glass=BreakGlassStore(index.engine),
            referral_texts=ReferralTextStore(index.engine),
            member_config=member_config,
            authority_files=authority_files,
            audit_keys=audit_keys,
            peers=peers,
            remote_authorities=RemoteAuthorities(reader.registry, peers, set(hosted)),
            fast=FastCalls(
                settings.chain_url,
                deployment.addresses["ConsentRegistry"],
                deployment.addresses["ReferralRegistry"],
                settings.chain_timeout_s,
                access_log=deployment.addresses["AccessLog"],
                consultations=deployment.addresses["ConsultationRegistry"],
            ),
        )

    def hosts(self, member: str) -> bool:
        """Whether this gateway holds ``member``'s keys (and so its records)."""
        try:
            return to_checksum_address(member) in self.hosted
        except ValueError:
            return False

    def is_member(self, address: str, ttl_s: float = 5.0) -> bool:
        """AllianceRegistry.isMember, remembered for a few seconds (gateway fetch path)."""
        key = address.lower()
        seen = self._members_seen.get(key)
        if seen is None or time.monotonic() - seen[0] > ttl_s:
            seen = (time.monotonic(), self.reader.registry.is_member(address))
            if len(self._members_seen) > 10_000:
                self._members_seen.clear()
            self._members_seen[key] = seen
        return seen[1]

    def signer(self, member: str) -> Alliance:
        """The chain signer of a member this API hosts; 403 for any other member."""
        found = self.hosted.get(member)  # tokens carry the checksummed address: no keccak
        if found is not None:
            return found
        try:
            return self.hosted[to_checksum_address(member)]
        except (KeyError, ValueError):
            raise forbidden(f"member {member} is not hosted by this API instance") from None

    def member_settings(self, member: str) -> HostedMember:
        """A hosted member's own settings (its break-glass rules); 403 for any other."""
        return self.member_config[self.signer(member).client.address]

    def batcher(self, member: str) -> AccessBatcher:
        """The access-log batcher signing as a hosted member (created on first use)."""
        signer = self.signer(member)
        address = signer.client.address
        with self._batch_lock:
            found = self.batchers.get(address)
            if found is None:
                found = AccessBatcher(signer.client, self.deployment.addresses["AccessLog"])
                self.batchers[address] = found
            return found

    def staff_pseudonym(self, member: str, staff_id: str) -> bytes:
        """The pseudonym of ``member``'s ``staff_id`` on chain, under the member's secret (in
        ``state_dir/staff_pseudonyms``, created on first use)."""
        key = member.lower()
        secret = self._pseudonym_secrets.get(key)
        if secret is None:
            directory = self.settings.resolved_state_dir() / "staff_pseudonyms"
            secret = self._pseudonym_secrets[key] = load_or_create_secret(directory, key)
        return pseudonym(secret, member, staff_id)

    def roles_of(self, address: str) -> Role:
        return self.reader.registry.roles_of(address)

    def close(self) -> None:
        self.indexer.stop()
        for batcher in self.batchers.values():
            batcher.close()
        self.fast.close()
        self.peers.close()
        self.index.close()
