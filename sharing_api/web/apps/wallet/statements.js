// The EIP-191 statements the patient signs for the alliance-wide referral inbox, mirroring
// sharing_api/gateway/inbox_auth.py line for line (tests/web/test_wallet_units.py compares).
// Other gateways hand a patient's proposals only to a relay holding such a statement; with
// pseudonyms, one statement per pseudonym, each signed by its own key.
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

// The body of POST /patients/me/referral-inbox: the primary's statement, and the same
// statement by each pseudonym (`pseudonyms`: [{patient, custodian, expires, signature}]), so
// proposals naming any of them are gathered. `entries`: [custodian, pseudonym wallet] pairs;
// the gateway sends each statement to its custodian's gateway only, so no peer learns that
// two pseudonyms are one patient's.
export async function inboxBody(primary, entries, signing, expires) {
  const sign = async (w) => w.signMessage(
    inboxText(w.address, signing.inbox_relay, signing.chain_id, expires));
  const body = { expires, signature: await sign(primary) };
  if (entries.length) {
    body.pseudonyms = await Promise.all(entries.map(async ([custodian, w]) => ({
      patient: w.address, custodian, expires, signature: await sign(w) })));
  }
  return body;
}

// The inbox statements for this gateway's relay: signed once, reused while they live (one
// round of signatures per few minutes, not per refresh); kept in memory only, forgotten on
// lock.
export async function inboxStatement(app, signing) {
  const held = app.inboxStatement;
  const fresh = held && held.expires - now() > RENEW_BEFORE_S;
  if (fresh && held.patient === app.wallet.address && held.relay === signing.inbox_relay) {
    return held.body;
  }
  const expires = now() + INBOX_LIFE_S;
  const entries = app.identity ? app.identity.entries() : [];
  const body = await inboxBody(app.wallet, entries, signing, expires);
  app.inboxStatement = { patient: app.wallet.address, relay: signing.inbox_relay, expires, body };
  return body;
}

// The body of POST /patients/me/referral-inbox/{referrer}/{id}/decline, signed by `wallet`:
// the key of the address the proposal names. `patient` goes in for a pseudonym (the
// server's default is the primary).
export async function signDecline(wallet, proposal, note, signing, patient = null) {
  const expires = now() + INBOX_LIFE_S;
  const text = declineText(wallet.address, proposal.referrer, proposal.proposal_id, note,
    signing.chain_id, expires);
  const body = { note, expires, signature: await wallet.signMessage(text) };
  if (patient) body.patient = patient;
  return body;
}
