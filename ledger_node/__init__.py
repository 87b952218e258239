"""The permissioned EVM ledger node."""
