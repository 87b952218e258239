"""The gateway among gateways: TLS identity, the on-chain directory, signed fetches from a
custodian's gateway, and the single-use record of what a custodian has served."""
