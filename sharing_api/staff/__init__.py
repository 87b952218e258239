"""Staff of a member: keyed pseudonyms on chain, revocation, the ABE keys issued to them."""
