"""One router per resource: health, auth, records, consents, referrals, keys, audit."""
