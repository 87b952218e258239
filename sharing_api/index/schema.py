"""Tables of the index (SQLAlchemy Core). Addresses are stored lowercase 0x-hex."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# uint256 ids fit in Numeric(78); in practice they are small, BigInteger keeps queries simple.
ID = BigInteger

cursor = Table(
    "index_cursor",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("next_block", BigInteger, nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("record_id", ID, primary_key=True, autoincrement=False),
    Column("patient", String(42), nullable=False, index=True),
    Column("custodian", String(42), nullable=False, index=True),
    Column("category", Integer, nullable=False),
    Column("content_hash", String(66), nullable=False),
    Column("cid", Text, nullable=False),
    # The chain holds a commitment to the ABE policy, not its text (crypto/policy_commitment).
    Column("policy_commitment", String(66), nullable=False),
    # The policy text, only where this gateway received the sealed header (its uploads).
    Column("policy", Text, nullable=True),
    # Its security labels (DS4P, crypto/labels), likewise only from a header received here:
    # confidentiality N, R or V, and sensitivity codes comma-separated ("" for none).
    Column("confidentiality", String(1), nullable=True),
    Column("sensitivity", Text, nullable=True),
    Column("supersedes", ID, nullable=False),
    Column("superseded_by", ID, nullable=False, default=0),
    # The registering block's time: the wallet lists it (no eth_getBlock per record).
    Column("timestamp", BigInteger, nullable=False, default=0),
    # Erased at the patient's request (RecordErased): the ciphertext is gone for good.
    Column("erased", Boolean, nullable=False, default=False),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", ID, primary_key=True, autoincrement=False),
    Column("patient", String(42), nullable=False, index=True),
    Column("grantee", String(42), nullable=False, index=True),
    Column("grantee_role", Integer, nullable=False),
    Column("categories", Integer, nullable=False),
    Column("purposes", Integer, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
    Column("document_hash", String(66), nullable=False),
    Column("relayer", String(42), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_block", BigInteger, nullable=True),
    # The revoking block's time (FHIR AuditEvent of the revocation); NULL in an index
    # written before this column: re-index to fill it.
    Column("revoked_at", BigInteger, nullable=True),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

referrals = Table(
    "referrals",
    metadata,
    Column("referral_id", ID, primary_key=True, autoincrement=False),
    Column("patient", String(42), nullable=False, index=True),
    Column("referrer", String(42), nullable=False, index=True),
    Column("receiver", String(42), nullable=False, index=True),
    Column("direction", Integer, nullable=False),
    Column("record_ids", Text, nullable=False),  # JSON list
    Column("consent_id", ID, nullable=False),
    Column("status", Integer, nullable=False),
    Column("reason_hash", String(66), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # access through it ends then
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

referral_changes = Table(
    "referral_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referral_id", ID, nullable=False, index=True),
    Column("from_status", Integer, nullable=False),
    Column("to_status", Integer, nullable=False),
    Column("by", String(42), nullable=False),
    Column("note_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# ConsultationRegistry: one row per consultation, its status as of the last step indexed.
consultations = Table(
    "consultations",
    metadata,
    Column("consultation_id", ID, primary_key=True, autoincrement=False),
    Column("patient", String(42), nullable=False, index=True),
    Column("requester", String(42), nullable=False, index=True),
    Column("consultant", String(42), nullable=False, index=True),
    Column("record_ids", Text, nullable=False),  # JSON list
    Column("consent_id", ID, nullable=False),
    Column("status", Integer, nullable=False),  # chain.scopes.ConsultationStatus
    Column("question_hash", String(66), nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # the consultant's reads end then
    Column("report_record_id", ID, nullable=False, default=0),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# Every step of a consultation (one event each), in chain order.
consultation_steps = Table(
    "consultation_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consultation_id", ID, nullable=False, index=True),
    Column("step", String(16), nullable=False),  # requested, accepted, declined, ...
    Column("by", String(42), nullable=False),
    Column("note_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

accesses = Table(
    "accesses",
    metadata,
    Column("access_id", ID, primary_key=True, autoincrement=False),
    Column("record_id", ID, nullable=False, index=True),
    Column("patient", String(42), nullable=False, index=True),
    Column("reader", String(42), nullable=False, index=True),
    Column("logger", String(42), nullable=False),
    Column("purpose", Integer, nullable=False),
    Column("basis", Integer, nullable=False, index=True),
    Column("basis_id", ID, nullable=False),
    Column("reason_hash", String(66), nullable=False),
    Column("staff", String(66), nullable=False, default="0x" + "00" * 32, index=True),
    Column("justified", Boolean, nullable=False, default=False),
    Column("justification_hash", String(66), nullable=True),
    Column("review", Integer, nullable=False, default=0),  # chain.scopes.Review (break-glass)
    Column("reviewer", String(66), nullable=True),  # the justifying person's pseudonym
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

# Every change of the gateway directory, in chain order (set, moved, cleared), so auditors
# see where each member's gateway was and when; url NULL = cleared.
gateways = Table(
    "gateways",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member", String(42), nullable=False, index=True),
    Column("url", Text, nullable=True),
    Column("fingerprint", String(66), nullable=True),
    Column("block_number", BigInteger, nullable=False),
    Column("log_index", Integer, nullable=False),
    Column("tx_hash", String(66), nullable=False),
)

# Sign-in (EIP-4361) nonces the API issued and not yet used: kept here, not in memory, so
# they survive restarts and every worker of one API shares them. Deleted when used.
siwe_nonces = Table(
    "siwe_nonces",
    metadata,
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

# ---- a gateway's own staff (never on chain) ----------------------------------------------
# Pseudonyms this gateway put on chain for its members' staff: the only way back from a
# pseudonym to a person, opened to the regulator alone (GET /audit/staff/{pseudonym}).
staff_pseudonyms = Table(
    "staff_pseudonyms",
    metadata,
    Column("pseudonym", String(66), primary_key=True),
    Column("member", String(42), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("first_seen", Float, nullable=False),
)

# Staff a member revoked: every request with their token is refused from then on (every
# worker reads this table, so none lets one through).
staff_revocations = Table(
    "staff_revocations",
    metadata,
    Column("member", String(42), primary_key=True),
    Column("staff_id", String(64), primary_key=True),
    Column("revoked_at", Float, nullable=False),
)

# ABE keys issued to staff through POST /keys: what to re-issue after a rotation, and whose.
staff_keys = Table(
    "staff_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("member", String(42), nullable=False, index=True),
    Column("staff_id", String(64), nullable=False),
    Column("attributes", Text, nullable=False),  # JSON list
    Column("generation", Integer, nullable=False),
    Column("expiry_epoch", Integer, nullable=False),
    Column("issued_at", Float, nullable=False),
)

# The GID (the staff member's own key address) a member bound to each of its staff when it
# issued their token: a member's authority issues RW15 keys only to the GID of the caller.
staff_gids = Table(
    "staff_gids",
    metadata,
    Column("member", String(42), primary_key=True),
    Column("staff_id", String(64), primary_key=True),
    Column("gid", String(42), nullable=False),
    Column("bound_at", Float, nullable=False),
    UniqueConstraint("member", "gid", name="uq_staff_gids_member_gid"),
)

# Credentials an authority verified itself (the regulator: a doctor's professional title and
# licence, from its registry): what it may issue to a GID, and until when.
verified_credentials = Table(
    "verified_credentials",
    metadata,
    Column("authority", String(32), primary_key=True),
    Column("gid", String(42), primary_key=True),
    Column("attribute", String(128), primary_key=True),  # qualified: reg.title:chief-physician
    Column("valid_until", Integer, nullable=False),  # last epoch (day) a key may cover
    Column("verified_at", Float, nullable=False),
)

# Keys re-issued by a rotation wait here for their holders (GET /keys), sealed under a key
# derived from the authority generation they belong to (sharing_api/staff/delivery.py).
staff_key_deliveries = Table(
    "staff_key_deliveries",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("member", String(42), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("params_fingerprint", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Index("ix_staff_key_deliveries_holder", "member", "staff_id"),
)

# Rate-limit hits (sharing_api/api/core/limits.py): in the index DB so a limit holds across
# workers and restarts; rows older than their window are pruned on every hit.
rate_hits = Table(
    "rate_hits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(32), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("at", Float, nullable=False),
    Column("weight", BigInteger, nullable=False),
    Index("ix_rate_hits_rule_subject_at", "rule", "subject", "at"),
    Index("ix_rate_hits_rule_at", "rule", "at"),
)

__all__ = [
    "Numeric",
    "accesses",
    "consents",
    "consultation_steps",
    "consultations",
    "cursor",
    "gateways",
    "metadata",
    "rate_hits",
    "records",
    "referrals",
    "siwe_nonces",
    "staff_gids",
    "staff_key_deliveries",
    "staff_keys",
    "staff_pseudonyms",
    "staff_revocations",
    "verified_credentials",
]
