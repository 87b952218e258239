// The EIP-191 statements the patient signs for the alliance-wide referral inbox, mirroring
// sharing_api/gateway/inbox_auth.py line for line (tests/web/test_wallet_units.py compares).
// Other gateways hand a patient's proposals only to a relay holding such a statement.
import { getAddress, sha256, toUtf8Bytes } from "ethers";

const INBOX_TAG = "AllianceLedger referral inbox v1";
const DECLINE_TAG = "AllianceLedger referral decline v1";
const INBOX_LIFE_S = 540; // gateways accept 600 s at most; leave room for clock skew
const RENEW_BEFORE_S = 60; // sign a new one when the current has less than this left

export function inboxText(patient, relay, chainId, expires) {
  return [
    INBOX_TAG,
    "List my referral proposals at every gateway of the alliance.",
    `patient: ${getAddress(patient)}`,
    `relay: ${getAddress(relay)}`,
    `chain: ${chainId}`,
    `expires: ${expires}`,
  ].join("\n");
}

export function declineText(patient, referrer, proposalId, note, chainId, expires) {
  return [
    DECLINE_TAG,
    "I decline this referral proposal.",
    `patient: ${getAddress(patient)}`,
    `referrer: ${getAddress(referrer)}`,
    `proposal: ${proposalId}`,
    `note: ${sha256(toUtf8Bytes(note)).slice(2)}`,
    `chain: ${chainId}`,
    `expires: ${expires}`,
  ].join("\n");
}

const now = () => Math.floor(Date.now() / 1000);

// The inbox statement for this gateway's relay: signed once, reused while it lives (one
// signature per few minutes, not per refresh); kept in memory only, forgotten on lock.
export async function inboxStatement(app, signing) {
  const held = app.inboxStatement;
  const fresh = held && held.expires - now() > RENEW_BEFORE_S;
  if (fresh && held.patient === app.wallet.address && held.relay === signing.inbox_relay) {
    return { expires: held.expires, signature: held.signature };
  }
  const expires = now() + INBOX_LIFE_S;
  const text = inboxText(app.wallet.address, signing.inbox_relay, signing.chain_id, expires);
  const signature = await app.wallet.signMessage(text);
  app.inboxStatement = { patient: app.wallet.address, relay: signing.inbox_relay, expires, signature };
  return { expires, signature };
}

// The body of POST /patients/me/referral-inbox/{referrer}/{id}/decline.
export async function signDecline(wallet, proposal, note, signing) {
  const expires = now() + INBOX_LIFE_S;
  const text = declineText(wallet.address, proposal.referrer, proposal.proposal_id, note,
    signing.chain_id, expires);
  return { note, expires, signature: await wallet.signMessage(text) };
}
