"""`alliance contracts`: rebuild or check the committed contract artifacts."""

from __future__ import annotations

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
