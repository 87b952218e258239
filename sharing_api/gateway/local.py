"""Gateways as separate processes on 127.0.0.1: how `alliance demo` and the tests run an
alliance of institutions on one machine (each gateway its own process, keys, store, index).

    gw = prepare_gateway(root / "h1", [member], chain_url=..., deployment_file=...,
                         passphrase=..., tls=True)
    with running_gateway(gw) as running:       # `alliance gateway serve` in a child process
        httpx.get(running.url + "/health", verify=str(running.cert))
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from crypto.authority import AttributeAuthority
from crypto.files import atomic_output
from crypto.keystore import MIN_LOG2_N
from crypto.suite import suite_by_name
from ledger_node.network.procs import free_port, stop_group
from sharing_api.api.core.config import HostedMember
from sharing_api.api.core.keys import seal_audit_key, seal_hosted_member
from sharing_api.chain import Alliance, ChainClient, Deployment
from sharing_api.gateway.operate import write_gateway_config
from sharing_api.gateway.tls import make_certificate


@dataclass(frozen=True)
class MemberKeys:
    """A member a gateway hosts: its id, ledger key, ABE authority (if it issues keys), and
    its own passphrase if its keys are sealed apart from the gateway's."""

    member_id: str
    ledger_key: str
    authority: AttributeAuthority | None = None
    own_passphrase: str = ""
    audit_key: X25519PrivateKey | None = None  # a regulator's: opens break-glass reasons


@dataclass
class LocalGateway:
    name: str
    directory: Path
    config: Path
    port: int
    tls: bool
    passphrase_file: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def cert(self) -> Path | None:
        return self.directory / "tls" / "cert.pem" if self.tls else None

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an HTTP client passes as ``verify`` to trust this gateway."""
        return ssl.create_default_context(cafile=str(self.cert)) if self.cert else True

    @property
    def log(self) -> Path:
        return self.directory / "gateway.log"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            sys.executable, "-m", "sharing_api.cli", "gateway", "serve",
            "--config", str(self.config), "--host", "127.0.0.1", "--port", str(self.port),
            "--passphrase-file", str(self.passphrase_file),
        ]  # fmt: skip
        if not self.tls:
            cmd.append("--insecure-http")
        with open(self.log, "ab") as log:  # a file, not a pipe: a full pipe would stall it
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=log,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise OSError(f"gateway {self.name} exited:\n{_tail(self.log)}")
            try:
                if httpx.get(self.url + "/health", verify=self.verify, timeout=2).is_success:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise OSError(f"gateway {self.name} did not start:\n{_tail(self.log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _write_secret(path: Path, text: str) -> Path:
    with atomic_output(path, mode=0o600) as handle:
        handle.write(text.encode() + b"\n")
    return path


def prepare_gateway(
    directory: Path,
    members: list[MemberKeys],
    *,
    chain_url: str,
    deployment_file: Path,
    passphrase: str,
    tls: bool = True,
    port: int = 0,
    storage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    register: bool = True,
    kdf_log2_n: int = MIN_LOG2_N,
) -> LocalGateway:
    """Seal the members' keys (each under its own passphrase where it has one), make the
    TLS certificate, write gateway.json and (``register``) put each member's directory entry
    on chain, as `alliance gateway register` does; nothing runs yet. Keys are sealed at the
    keystore's minimum cost by default: these are throw-away demo and test alliances. An
    ``extra`` ``crypto_suite`` also seals the key files in that suite."""
    directory.mkdir(parents=True, exist_ok=True)
    suite = suite_by_name(str((extra or {}).get("crypto_suite", "aes-256-gcm")))
    hosted: list[HostedMember] = []
    for m in members:
        sealed = seal_hosted_member(
            directory / "keys",
            m.member_id,
            m.ledger_key,
            m.own_passphrase or passphrase,
            m.authority,
            kdf_log2_n,
            suite,
        )
        if m.audit_key is not None:
            audit_file = directory / "keys" / f"{m.member_id}.audit.key"
            secret = m.own_passphrase or passphrase
            seal_audit_key(audit_file, m.audit_key, secret, kdf_log2_n, suite)
            sealed = sealed.model_copy(update={"audit_key_file": str(audit_file)})
        if m.own_passphrase:
            own = _write_secret(directory / "keys" / f"{m.member_id}.passphrase", m.own_passphrase)
            sealed = sealed.model_copy(update={"passphrase_file": str(own)})
        hosted.append(sealed)
    port = port or free_port()
    fingerprint = b"\x00" * 32
    if tls:
        fingerprint = make_certificate(
            directory / "tls" / "cert.pem",
            directory / "tls" / "key.pem",
            directory.name,
            ["127.0.0.1", "localhost"],
        )
    passphrase_file = _write_secret(directory / "passphrase", passphrase)
    config = write_gateway_config(
        directory,
        hosted,
        public_url=f"{'https' if tls else 'http'}://127.0.0.1:{port}",
        chain_url=chain_url,
        deployment_file=str(deployment_file),
        storage=storage,
        extra={"insecure_http": not tls, "index_poll_s": 0.2, **(extra or {})},
    )
    gateway = LocalGateway(directory.name, directory, config, port, tls, passphrase_file)
    if register:
        deployment = Deployment.load(deployment_file)
        for m in members:
            signer = Alliance(ChainClient(chain_url, m.ledger_key), deployment)
            signer.registry.set_gateway(gateway.url, fingerprint)
    return gateway


@contextmanager
def running_gateway(gateway: LocalGateway) -> Iterator[LocalGateway]:
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()
