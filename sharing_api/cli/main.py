"""`alliance`: the single command-line entry point.

Subcommands live next to the code they drive (``crypto/cli.py``, ``ledger_node/cli.py``, ...)
and are imported only when invoked, so ``alliance --help`` stays fast even though some
components pull in heavy libraries (web3, pyrevm).
"""

from __future__ import annotations

import importlib
import sys

import click

# name -> ("module:attribute", one-line help). Add a line when a capability lands.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "gateway": (
        "sharing_api.gateway.cli:gateway",
        "Run a member gateway: the sharing API, keys, TLS, directory entry.",
    ),
    "record": ("sharing_api.sdk.cli:record", "Publish, fetch and list encrypted records."),
    "consent": ("sharing_api.sdk.consent_cli:consent", "Grant, revoke and list patient consents."),
    "patient": (
        "sharing_api.sdk.patient_cli:patient",
        "Your pseudonym per custodian, disclosures; attest verified patients (members).",
    ),
    "referral": (
        "sharing_api.sdk.referral_cli:referral",
        "Create and follow referrals between members.",
    ),
    "consultation": (
        "sharing_api.sdk.consultation_cli:consultation",
        "Remote consultations: ask a specialist member, answer, report, close.",
    ),
    "staff": (
        "sharing_api.sdk.staff_cli:staff",
        "Issue and revoke staff tokens (a member's staff).",
    ),
    "gid": ("sharing_api.sdk.cli_gid:gid", "Your own key (GID) and the RW15 keys issued to it."),
    "regulator": (
        "sharing_api.sdk.cli_gid:regulator",
        "The regulator's registry of verified titles and licences.",
    ),
    "abe": ("crypto.cli:abe", "CP-ABE attribute authorities, keys, encryption and re-wrapping."),
    "demo": ("sharing_api.cli.demo:demo", "Run the alliance demo scenario end to end."),
    "contracts": ("contracts.cli:contracts_group", "Compile and deploy the Solidity contracts."),
    "node": ("ledger_node.cli:node", "Run the permissioned EVM ledger node."),
    "audit": ("sharing_api.audit.cli:audit", "Verify the chain and blobs, find anomalies, report."),
    "network": ("ledger_node.network.cli:network", "Run a replicated network (etcd ordering)."),
    "storage": (
        "sharing_api.storage.cli:storage",
        "Put, get and inspect blobs in the record store.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help text comes from the table so `alliance --help` imports nothing heavy.
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="allianceledger")
def cli() -> None:
    """AllianceLedger: share encrypted health records across a medical alliance.

    Records are encrypted locally under CP-ABE policies, stored content-addressed, and every
    consent, registration, access and referral is logged on a permissioned EVM ledger.
    """


def main(argv: list[str] | None = None) -> int:
    """Run `alliance` and return its exit status.

    Errors become one clear line on stderr and a non-zero status. Every documented error in
    the project subclasses ``ValueError`` (bad input, wrong key, tampered data) or is an
    ``OSError`` (missing file, server down); anything else is a bug and keeps its traceback.
    """
    try:
        # Out of standalone mode click *returns* the code of a command's
        # `raise click.exceptions.Exit(n)` (e.g. `audit verify` finding a problem) instead of
        # raising it; every command's callback returns None.
        result = cli.main(args=argv, prog_name="alliance", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except (ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
