"""`alliance contracts`: rebuild or check the committed artifacts; deploy an alliance."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group("contracts")
def contracts_group() -> None:
    """Solidity contracts: compile offline (npm solc-js) into committed artifacts."""


@contracts_group.command("build")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Do not write: exit 1 if rebuilding would change any committed artifact.",
)
def build_command(check_only: bool) -> None:
    """Compile contracts/src/*.sol into contracts/artifacts/*.json (needs node)."""
    from contracts import build

    if check_only:
        differing = build.check()
        if differing:
            raise click.ClickException(
                "artifacts differ from a fresh build: " + ", ".join(differing)
            )
        click.echo("artifacts match a fresh build")
        return
    for path in build.build():
        click.echo(f"wrote {path.relative_to(build.REPO)}")


def _alliance_home() -> Path:
    return Path(os.environ.get("ALLIANCE_HOME", "~/.alliance")).expanduser()


@contracts_group.command("deploy")
@click.option(
    "--rpc", required=True, help="Ethereum JSON-RPC URL of the chain (anvil, our node, ...)."
)
@click.option(
    "--genesis",
    "genesis_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Genesis JSON: threshold M and members (address, name, roles, abe_params_hash).",
)
@click.option(
    "--key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the deployer's hex private key (the deployer gets no rights).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the deployment JSON [default: $ALLIANCE_HOME/deployment.json].",
)
def deploy_command(rpc: str, genesis_path: Path, key_file: Path, out: Path | None) -> None:
    """Deploy the five alliance contracts from a genesis description."""
    from sharing_api.chain import ChainClient, Genesis, deploy_alliance

    genesis = Genesis.load(genesis_path)
    key = key_file.read_text(encoding="utf-8").strip()
    try:
        client = ChainClient(rpc, key)
    except (ValueError, TypeError) as exc:  # eth-account's message for a bad key is unclear
        raise ValueError(f"{key_file}: not a hex private key") from exc
    deployment, gas = deploy_alliance(client, genesis)
    target = out or _alliance_home() / "deployment.json"
    deployment.save(target)
    for name, address in deployment.addresses.items():
        click.echo(f"{name:18} {address}  ({gas[name]:,} gas)")
    click.echo(f"wrote {target}")
