// Keys kept in the browser, only ever encrypted: an ethers v6 JSON keystore (scrypt +
// AES-128-CTR, the Web3 Secret Storage format) in localStorage, unlocked with a passphrase.
// Shared by the patient wallet and the regulator console.
//
//   const store = new Keystore("wallet");          // one slot per app (localStorage key)
//   await store.create(passphrase)                  // new random key (with a mnemonic)
//   await store.importSecret(hexOrMnemonic, passphrase)
//   store.address()                                 // stored address, no passphrase needed
//   const wallet = await store.unlock(passphrase)   // throws WrongPassphrase
//   store.forget()
import { encryptKeystoreJson, getAddress, HDNodeWallet, Mnemonic, Wallet } from "ethers";

export const MIN_PASSPHRASE = 8;

export class WrongPassphrase extends Error {
  constructor() {
    super("wrong passphrase");
    this.name = "WrongPassphrase";
  }
}

export class BadSecret extends Error {
  constructor(message) {
    super(message);
    this.name = "BadSecret";
  }
}

// Parse what a user pastes: a 32-byte hex private key (0x optional) or a BIP-39 mnemonic
// (first account, m/44'/60'/0'/0/0). Throws BadSecret for anything else.
export function walletFromSecret(secret) {
  const text = (secret || "").trim();
  const hex = text.startsWith("0x") ? text : `0x${text}`;
  if (/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    try {
      return new Wallet(hex);
    } catch {
      throw new BadSecret("not a valid private key");
    }
  }
  const words = text.toLowerCase().split(/\s+/).join(" ");
  if (Mnemonic.isValidMnemonic(words)) return HDNodeWallet.fromPhrase(words);
  throw new BadSecret("neither a 64-hex-digit private key nor a valid mnemonic");
}

export class Keystore {
  // `slot` names the localStorage entry; `scryptN` may be lowered only where a test says why
  // (the default 2^17 is ethers' and geth's standard cost).
  constructor(slot = "default", { storage = globalThis.localStorage, scryptN } = {}) {
    this.key = `alliance.keystore.${slot}`;
    this.storage = storage;
    this.scryptN = scryptN;
  }

  has() {
    return this.storage.getItem(this.key) !== null;
  }

  // The address recorded in the keystore JSON (readable without the passphrase).
  address() {
    const json = this.storage.getItem(this.key);
    if (!json) return null;
    const { address } = JSON.parse(json);
    return address ? getAddress(`0x${address.replace(/^0x/, "")}`) : null;
  }

  async create(passphrase, progress) {
    return this.save(Wallet.createRandom(), passphrase, progress);
  }

  async importSecret(secret, passphrase, progress) {
    return this.save(walletFromSecret(secret), passphrase, progress);
  }

  async save(wallet, passphrase, progress) {
    checkPassphrase(passphrase);
    const options = { progressCallback: progress };
    if (this.scryptN) options.scrypt = { N: this.scryptN };
    const json = await encryptKeystoreJson(account(wallet), passphrase, options);
    this.storage.setItem(this.key, json);
    return wallet;
  }

  // The unlocked wallet (a Wallet or HDNodeWallet); WrongPassphrase if it does not decrypt.
  async unlock(passphrase, progress) {
    const json = this.storage.getItem(this.key);
    if (!json) throw new Error("no key stored");
    try {
      return await Wallet.fromEncryptedJson(json, passphrase || "", progress);
    } catch (error) {
      if (/incorrect password|invalid password/i.test(String(error?.message))) {
        throw new WrongPassphrase();
      }
      throw error;
    }
  }

  forget() {
    this.storage.removeItem(this.key);
  }
}

// What ethers' keystore writer takes; an HD wallet's mnemonic goes in too (as its own
// Wallet.encrypt would), so an imported phrase can be recovered from the keystore later.
function account(wallet) {
  const out = { address: wallet.address, privateKey: wallet.privateKey };
  const m = wallet.mnemonic;
  if (wallet.path && m && m.wordlist.locale === "en" && m.password === "") {
    out.mnemonic = { path: wallet.path, locale: "en", entropy: m.entropy };
  }
  return out;
}

export function checkPassphrase(passphrase) {
  if (!passphrase || passphrase.length < MIN_PASSPHRASE) {
    throw new BadSecret(`the passphrase needs at least ${MIN_PASSPHRASE} characters`);
  }
}
