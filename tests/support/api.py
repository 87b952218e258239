"""A real sharing API for tests: a ledger node (or any endpoint) with the alliance deployed,
a local store, an index DB, and uvicorn serving on 127.0.0.1 in a thread.

    with running_ledger_alliance(tmp) as alliance:       # node + contracts + authorities
        with running_api(alliance.settings()) as api:     # uvicorn on a free port
            httpx.get(api.url + "/health")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from eth_account import Account

from crypto.audit_seal import public_bytes
from crypto.authority import AttributeAuthority
from crypto.files import atomic_output
from crypto.keystore import MIN_LOG2_N
from ledger_node.network.procs import free_port
from sharing_api.api.core.config import ApiSettings, HostedMember, RateLimit, RateLimits
from sharing_api.api.core.keys import seal_audit_key, seal_hosted_member
from sharing_api.api.server import RunningApi, serve_in_thread
from sharing_api.chain import (
    Alliance,
    ChainClient,
    Deployment,
    Genesis,
    MemberSpec,
    Role,
    deploy_alliance,
)
from tests.support.ledger import DEV_KEYS, running_node

# Who is who in the test alliance (ledger keys from the node's dev keys).
DEPLOYER, H1, CLINIC, H3, REGULATOR = DEV_KEYS[:5]
TEST_PASSPHRASE = "correct horse battery staple (tests only)"
# The suite signs everyone in from 127.0.0.1 and relays many consents for one patient:
# its API runs with limits far above the defaults. tests/security/ checks the real ones.
_LOOSE = RateLimit(limit=10**9, window_s=60)
LOOSE_LIMITS = RateLimits(
    nonce_per_ip=_LOOSE,
    consent_per_patient=_LOOSE,
    consent_per_ip=_LOOSE,
    upload_per_uploader=_LOOSE,
    upload_bytes_per_member=RateLimit(limit=10**15, window_s=60),
    break_glass_per_person=_LOOSE,
    key_issue_per_staff=_LOOSE,
)


@dataclass
class TestAlliance:
    root: Path
    chain_url: str
    deployment: Deployment
    authorities: dict[str, AttributeAuthority]  # member key -> authority
    keys: dict[str, str] = field(default_factory=dict)  # name -> ledger key
    # the regulator's X25519 audit key (published on chain): break-glass reasons are sealed to it
    audit_key: X25519PrivateKey = field(default_factory=X25519PrivateKey.generate)
    _hosted: tuple[HostedMember, ...] = ()

    def address(self, name: str) -> str:
        return str(Account.from_key(self.keys[name]).address)

    def hosted_members(self) -> tuple[HostedMember, ...]:
        """h1, clinic and h3's keys sealed under TEST_PASSPHRASE in ``root/keys`` (once), and
        the regulator's (its console gateway: it closes break-glass reviews and holds the
        audit key that opens their reasons)."""
        if not self._hosted:
            members = [
                seal_hosted_member(
                    self.root / "keys",
                    name,
                    self.keys[name],
                    TEST_PASSPHRASE,
                    self.authorities.get(self.keys[name]),
                    MIN_LOG2_N,  # test keys: the cheapest cost the loader accepts
                )
                for name in ("h1", "clinic", "h3", "regulator")
            ]
            audit_file = self.root / "keys" / "regulator.audit.key"
            seal_audit_key(audit_file, self.audit_key, TEST_PASSPHRASE, MIN_LOG2_N)
            members[-1] = members[-1].model_copy(update={"audit_key_file": str(audit_file)})
            self._hosted = tuple(members)
        return self._hosted

    def passphrase_file(self) -> Path:
        path = self.root / "passphrase"
        if not path.exists():
            with atomic_output(path, mode=0o600) as handle:
                handle.write(TEST_PASSPHRASE.encode() + b"\n")
        return path

    def settings(self, **overrides: Any) -> ApiSettings:
        """The API over this alliance; the key files unlock through ``passphrase_file`` so
        a subprocess given these settings as its config starts too."""
        values: dict[str, Any] = {
            "chain_url": self.chain_url,
            "deployment_file": str(self.root / "deployment.json"),
            "members": self.hosted_members(),
            "storage_root": str(self.root / "storage"),
            "database_url": f"sqlite:///{self.root / 'index.sqlite3'}",
            "state_dir": str(self.root / "api"),
            "passphrase_file": str(self.passphrase_file()),
            "index_poll_s": 0.2,
            "rate_limits": LOOSE_LIMITS,
        }
        values.update(overrides)
        return ApiSettings(**values)


def deploy_test_alliance(
    root: Path,
    chain_url: str,
    deployer_key: str,
    regulator_authority: bool = False,
    crypto_suite: str = "aes-256-gcm",
    names: dict[str, str] | None = None,
) -> TestAlliance:
    """``regulator_authority``: the regulator is also attribute authority ``reg`` (titles
    and licences, RW15), its parameters' hash registered on chain like the members'.
    ``names``: other member names by key (h1, clinic, h3, regulator)."""
    name = {
        "h1": "City Third People's Hospital",
        "clinic": "Xinqiao Community Clinic",
        "h3": "Pujiang County People's Hospital",
        "regulator": "Municipal Health Commission",
        **(names or {}),
    }
    keys = {"h1": H1, "clinic": CLINIC, "h3": H3, "regulator": REGULATOR}
    addr = {n: Account.from_key(k).address for n, k in keys.items()}
    h1_auth, clinic_auth = AttributeAuthority.setup("h1"), AttributeAuthority.setup("c1")
    authorities = {H1: h1_auth, CLINIC: clinic_auth}
    if regulator_authority:
        authorities[REGULATOR] = AttributeAuthority.setup("reg")
    reg_hash = authorities[REGULATOR].params().fingerprint if regulator_authority else None
    genesis = Genesis(
        members=(
            MemberSpec(
                addr["h1"],
                name["h1"],
                Role.HOSPITAL | Role.TERTIARY | Role.ATTRIBUTE_AUTHORITY,
                h1_auth.params().fingerprint,
            ),
            MemberSpec(
                addr["clinic"],
                name["clinic"],
                Role.CLINIC | Role.ATTRIBUTE_AUTHORITY,
                clinic_auth.params().fingerprint,
            ),
            MemberSpec(addr["h3"], name["h3"], Role.HOSPITAL),
            MemberSpec(
                addr["regulator"],
                name["regulator"],
                Role.REGULATOR | (Role.ATTRIBUTE_AUTHORITY if reg_hash else Role(0)),
                reg_hash or b"\x00" * 32,
            ),
        ),
        threshold=2,
        crypto_suite=crypto_suite,
    )
    deployment, _ = deploy_alliance(ChainClient(chain_url, deployer_key), genesis)
    root.mkdir(parents=True, exist_ok=True)
    deployment.save(root / "deployment.json")
    made = TestAlliance(root, chain_url, deployment, authorities, keys=keys)
    regulator = Alliance(ChainClient(chain_url, keys["regulator"]), deployment)
    regulator.access.set_audit_key(public_bytes(made.audit_key.public_key()))
    return made


@contextmanager
def running_ledger_alliance(
    root: Path,
    regulator_authority: bool = False,
    crypto_suite: str = "aes-256-gcm",
    names: dict[str, str] | None = None,
) -> Iterator[TestAlliance]:
    """The project's ledger node with the alliance contracts deployed."""
    with running_node(member_keys=list(DEV_KEYS[:5]), block_time_ms=20) as node:
        yield deploy_test_alliance(
            root, node.url, DEPLOYER, regulator_authority, crypto_suite, names
        )


@contextmanager
def running_api(settings: ApiSettings) -> Iterator[RunningApi]:
    """The API under uvicorn in a thread on a free 127.0.0.1 port."""
    with serve_in_thread(settings) as api:
        yield api


__all__ = [
    "TEST_PASSPHRASE",
    "RunningApi",
    "TestAlliance",
    "deploy_test_alliance",
    "free_port",
    "running_api",
    "running_ledger_alliance",
]
