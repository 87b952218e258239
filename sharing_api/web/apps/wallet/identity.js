// The patient's addresses: one recovery phrase, a pairwise pseudonym per custodian. Records,
// consents and referrals at custodian M are under the M-pseudonym, so nothing on chain links
// the patient's care at two members; the wallet signs with the right one by itself and the
// patient never sees a path. The same derivation as sharing_api/patient/pseudonyms.py (bit
// for bit; tests/web/test_wallet_pseudonym_units.py compares):
//   primary (sign-in) key      m/44'/60'/0'/0/0
//   pseudonym for custodian M  m/44'/60'/0'/1'/{i}'   i = keccak256(M's 20 bytes)[0..4] & 0x7fffffff
// A key imported without its phrase has no pseudonyms: it keeps its one (shared) address.
import { getAddress, getBytes, HDNodeWallet, keccak256 } from "ethers";

export const PRIMARY_PATH = "m/44'/60'/0'/0/0";
export const PSEUDONYM_BRANCH = "m/44'/60'/0'/1'";
export const CARE_ROLES = ["hospital", "clinic"]; // members that keep records (custodians)
export const MAX_PSEUDONYMS = 64; // what one sign-in may prove (the API's limit)
const HARDENED = 0x8000_0000;

// The hardened child index (below 2^31) of a member's pseudonym.
export function custodianIndex(custodian) {
  const d = getBytes(keccak256(getBytes(getAddress(custodian))));
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) & (HARDENED - 1);
}

export function pseudonymPath(custodian) {
  return `${PSEUDONYM_BRANCH}/${custodianIndex(custodian)}'`;
}

// The alliance's active hospitals and clinics (from GET /members), lowercase, sorted.
export function custodians(members) {
  return members
    .filter((m) => m.active && m.roles.some((r) => CARE_ROLES.includes(r)))
    .map((m) => m.address.toLowerCase())
    .sort();
}

export class Identity {
  // `wallet`: the unlocked primary (an HDNodeWallet with its phrase, or a bare Wallet).
  constructor(wallet, custodianList = []) {
    this.primary = wallet;
    this.byCustodian = new Map(); // custodian (lowercase) -> its pseudonym's HDNodeWallet
    const mnemonic = wallet.mnemonic || null;
    this.hasPhrase = Boolean(mnemonic);
    if (!mnemonic) return;
    // One seed (PBKDF2) and one branch node; each pseudonym is then one hardened step.
    const branch = HDNodeWallet.fromSeed(mnemonic.computeSeed()).derivePath(PSEUDONYM_BRANCH);
    for (const c of custodianList.slice(0, MAX_PSEUDONYMS)) {
      this.byCustodian.set(c.toLowerCase(), branch.deriveChild(custodianIndex(c) + HARDENED));
    }
  }

  // Without a phrase everything is under one address: linkable by anyone reading the chain.
  get linkable() {
    return !this.hasPhrase;
  }

  pseudonyms() {
    return [...this.byCustodian.values()];
  }

  // [custodian, its pseudonym's wallet] pairs: the inbox sends each pseudonym's statement
  // to its custodian's gateway only.
  entries() {
    return [...this.byCustodian.entries()];
  }

  // The key that signs for records kept at `custodian` (the primary for a bare key).
  at(custodian) {
    return this.byCustodian.get(String(custodian).toLowerCase()) || this.primary;
  }

  addressAt(custodian) {
    return this.at(custodian).address;
  }

  // The custodian whose pseudonym `address` is, or null (the primary, or not ours).
  custodianOf(address) {
    const wanted = String(address || "").toLowerCase();
    for (const [custodian, w] of this.byCustodian) {
      if (w.address.toLowerCase() === wanted) return custodian;
    }
    return null;
  }

  // The key for an address a consent, referral or proposal names; null if it is not ours.
  signerFor(address) {
    const wanted = String(address || "").toLowerCase();
    if (this.primary.address.toLowerCase() === wanted) return this.primary;
    const custodian = this.custodianOf(wanted);
    return custodian ? this.byCustodian.get(custodian) : null;
  }
}
