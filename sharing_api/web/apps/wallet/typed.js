// The EIP-712 messages a patient signs, mirroring sharing_api/chain/typed_data.py field for
// field (tests/web/test_wallet_units.py signs the same terms in Python and here and compares).
// The chain id, the ConsentRegistry address and the patient's nonce come from the API's
// GET /consents/domain, never from this file.
import { getAddress, Signature } from "ethers";
import { newSalt, textCommitment } from "./commitment.js";

export const CATEGORIES = ["summary", "lab", "imaging", "prescription", "discharge", "chronic-care"];
export const PURPOSES = ["treatment", "referral", "consultation", "research", "emergency"];
export const ROLES = { hospital: 1, clinic: 2 }; // Role bits a patient may grant to
export const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";
export const ZERO_HASH = `0x${"00".repeat(32)}`;

export const GRANT_TYPES = {
  Grant: [
    { name: "patient", type: "address" },
    { name: "grantee", type: "address" },
    { name: "granteeRole", type: "uint8" },
    { name: "categories", type: "uint16" },
    { name: "purposes", type: "uint8" },
    { name: "validFrom", type: "uint40" },
    { name: "validUntil", type: "uint40" },
    { name: "documentHash", type: "bytes32" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const REVOKE_TYPES = {
  Revoke: [
    { name: "patient", type: "address" },
    { name: "consentId", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const REFERRAL_TYPES = {
  ReferralConsent: [
    { name: "patient", type: "address" },
    { name: "referrer", type: "address" },
    { name: "receiver", type: "address" },
    { name: "direction", type: "uint8" },
    { name: "recordIds", type: "uint256[]" },
    { name: "reasonHash", type: "bytes32" },
    { name: "expiresAt", type: "uint256" }, // the referral ends then: show it before signing
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const WITHDRAW_TYPES = {
  Withdraw: [
    { name: "patient", type: "address" },
    { name: "referralId", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};
export const DIRECTIONS = ["up", "down"]; // Direction enum order

export function consentDomain(chainId, consentRegistry) {
  return {
    name: "AllianceConsent",
    version: "1",
    chainId,
    verifyingContract: getAddress(consentRegistry),
  };
}

// A bit mask from labels, as sharing_api.chain.scopes.mask does with enum values.
export function mask(labels, all) {
  return labels.reduce((bits, label) => {
    const index = all.indexOf(label);
    if (index < 0) throw new Error(`unknown ${label}`);
    return bits | (1 << index);
  }, 0);
}

// Terms as the API's GrantIn takes them (labels, snake_case), and the typed message.
export function grantMessage(terms) {
  return {
    patient: getAddress(terms.patient),
    grantee: getAddress(terms.grantee),
    granteeRole: terms.grantee_role,
    categories: mask(terms.categories, CATEGORIES),
    purposes: mask(terms.purposes, PURPOSES),
    validFrom: terms.valid_from,
    validUntil: terms.valid_until,
    documentHash: terms.document_hash,
    nonce: terms.nonce,
    deadline: terms.deadline,
  };
}

function vrs(signature) {
  const sig = Signature.from(signature);
  return { v: sig.v, r: sig.r, s: sig.s };
}

// Sign a grant with an ethers Signer; returns the API's POST /consents body.
export async function signGrant(signer, terms, chainId, consentRegistry) {
  const signature = await signer.signTypedData(
    consentDomain(chainId, consentRegistry),
    GRANT_TYPES,
    grantMessage(terms),
  );
  return { ...terms, signature: vrs(signature) };
}

// The Revoke typed message (what the wallet shows before signing, and then signs).
export function revokeMessage(patient, consentId, nonce, deadline) {
  return { patient: getAddress(patient), consentId, nonce, deadline };
}

// Sign a revocation; returns the API's POST /consents/{id}/revoke body.
export async function signRevoke(signer, consentId, nonce, deadline, chainId, consentRegistry) {
  const message = revokeMessage(await signer.getAddress(), consentId, nonce, deadline);
  const signature = await signer.signTypedData(
    consentDomain(chainId, consentRegistry),
    REVOKE_TYPES,
    message,
  );
  return { nonce, deadline, signature: vrs(signature) };
}

export function referralDomain(chainId, referralRegistry) {
  return {
    name: "AllianceReferral",
    version: "1",
    chainId,
    verifyingContract: getAddress(referralRegistry),
  };
}

// What the chain holds of a referral's reason: its salted commitment (commitment.js), computed
// here from the text the patient reads and its salt, or zero when there is no reason.
export function reasonHash(reason, salt) {
  return reason ? textCommitment(salt, "reason", reason) : ZERO_HASH;
}

// The patient agrees to `referrer` creating this referral (ReferralRegistry.createWithSig).
// Returns the API's POST /referrals body, for the referrer to send.
// `terms.reason_salt`: the salt the proposal carries; without one the wallet draws its own.
export async function signReferral(signer, terms, nonce, deadline, chainId, referralRegistry) {
  const patient = await signer.getAddress();
  const salt = terms.reason ? terms.reason_salt || newSalt() : ZERO_HASH;
  const message = {
    patient,
    referrer: getAddress(terms.referrer),
    receiver: getAddress(terms.receiver),
    direction: DIRECTIONS.indexOf(terms.direction),
    recordIds: terms.record_ids,
    reasonHash: reasonHash(terms.reason, salt),
    expiresAt: terms.expires_at,
    nonce,
    deadline,
  };
  const signature = await signer.signTypedData(
    referralDomain(chainId, referralRegistry),
    REFERRAL_TYPES,
    message,
  );
  return {
    patient,
    receiver: message.receiver,
    direction: terms.direction,
    record_ids: terms.record_ids,
    reason: terms.reason,
    reason_salt: salt,
    expires_at: terms.expires_at,
    patient_signature: { deadline, signature: vrs(signature) },
  };
}

// The patient ends a referral (ReferralRegistry.withdrawBySig; the nonce is the referral
// nonce of GET /patients/me/signing). Returns the API's POST /referrals/{id}/withdraw body.
export async function signWithdraw(signer, referralId, nonce, deadline, chainId, referralRegistry) {
  const message = { patient: await signer.getAddress(), referralId, nonce, deadline };
  const signature = await signer.signTypedData(
    referralDomain(chainId, referralRegistry),
    WITHDRAW_TYPES,
    message,
  );
  return { nonce, deadline, signature: vrs(signature) };
}
