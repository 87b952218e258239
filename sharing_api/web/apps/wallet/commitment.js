// The chain's commitment to free text (a referral's reason), byte for byte as
// crypto/text_commitment.py computes it: tagged_hash("free-text", salt, kind, text), where
// tagged_hash and the part encoding are crypto/encoding.py's. The wallet recomputes it from
// the reason it shows and the salt the proposal carries, and signs only that: never a hash
// handed to it. tests/web/test_wallet_units.py checks both sides agree.
import { concat, getBytes, hexlify, randomBytes, sha256, toUtf8Bytes } from "ethers";

const DOMAIN = "allianceledger/v1/";
export const FREE_TEXT_TAG = "free-text";
export const SALT_BYTES = 32;
export const ZERO_COMMITMENT = `0x${"00".repeat(32)}`;

// One part: a type byte ("b" bytes, "s" UTF-8 text), a 4-byte big-endian length, the bytes.
function part(type, bytes) {
  const head = new Uint8Array(5);
  head[0] = type.charCodeAt(0);
  new DataView(head.buffer).setUint32(1, bytes.length, false);
  return concat([head, bytes]);
}

// SHA-256(SHA-256(T) || SHA-256(T) || parts), T = DOMAIN + tag. A part is bytes (Uint8Array)
// or a string, encoded as UTF-8 text: a 0x-hex string is text here, as in Python.
export function taggedHash(tag, ...parts) {
  const t = sha256(toUtf8Bytes(DOMAIN + tag));
  const encoded = parts.map((p) => (typeof p === "string" ? part("s", toUtf8Bytes(p))
    : part("b", getBytes(p))));
  return sha256(concat([t, t, ...encoded]));
}

// The commitment to `text` of `kind` under `salt` (0x-hex, 32 bytes); zero for no text.
export function textCommitment(salt, kind, text) {
  if (!text) return ZERO_COMMITMENT;
  const raw = getBytes(salt);
  if (raw.length !== SALT_BYTES) throw new Error(`a free-text salt is ${SALT_BYTES} bytes`);
  return taggedHash(FREE_TEXT_TAG, raw, kind, text);
}

export function newSalt() {
  return hexlify(randomBytes(SALT_BYTES));
}
