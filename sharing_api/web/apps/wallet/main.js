// Patient wallet: a key kept encrypted in this browser, SIWE sign-in, my records and who read
// them, my consents (grant/revoke by EIP-712 signature), my referrals and consultations. Plain DOM, no framework.
import { api, setToken } from "../shared/api.js";
import { Keystore } from "../shared/keystore.js";
import { signIn } from "../shared/siwe.js";
import { h, short } from "./dom.js";
import { disclosureSection } from "./disclose.js";
import { grantSection } from "./grant.js";
import { consultationsSection } from "./consultation.js";
import { consentsSection, loadHome, recordsSection, referralsSection } from "./home.js";
import { initialLang, lang, setLang, t } from "./i18n.js";
import { Identity, custodians } from "./identity.js";
import { addressesSection, linkableNote } from "./pseudonym_view.js";
import { proposalsSection } from "./referral.js";
import { backupView, setupView, unlockView } from "./setup.js";

const root = document.getElementById("app");

const app = {
  keystore: new Keystore("wallet"),
  wallet: null, // the unlocked ethers wallet (the primary key), in memory only
  identity: null, // the primary and a pseudonym per custodian (identity.js), in memory only
  backupPhrase: null, // a new key's recovery phrase, shown once until the patient confirms
  address: null,
  members: [],
  data: null, // the lists of the signed-in screen
  inboxStatement: null, // the signed "list my referral proposals", reused while it lives
  message: { text: "", kind: "" },

  value(id) {
    return document.getElementById(id).value;
  },

  // `text` is a string, or [key, params] so the message follows a language switch.
  status(text, kind = "info") {
    this.message = { text: text || "", kind };
    const el = document.getElementById("status");
    if (el) {
      el.textContent = this.messageText();
      el.dataset.kind = kind;
    }
  },

  // Run `work` with a busy message; on failure show `explain(error)` or the error itself.
  messageText() {
    const { text } = this.message;
    return Array.isArray(text) ? t(...text) : text;
  },

  async busy(text, work, explain = () => null) {
    root.dataset.busy = "true";
    if (text) this.status(text, "busy");
    try {
      await work();
      if (text) this.status("");
      return true;
    } catch (error) {
      console.warn(error);
      const detail = explain(error) || t("error.generic", { error: error.message });
      this.status(detail, "error");
      return false;
    } finally {
      root.dataset.busy = "false";
    }
  },

  async signIn() {
    this.address = this.wallet.address;
    const ok = await this.busy(t("signin.working"), async () => {
      // The member list is for signed-in callers: sign in as the primary, derive the
      // pseudonym for every custodian, then sign in again proving them all (one token).
      await signIn(this.wallet);
      this.members = await api("/members");
      this.identity = new Identity(this.wallet, custodians(this.members));
      const pseudonyms = this.identity.pseudonyms();
      if (pseudonyms.length) await signIn(this.wallet, undefined, pseudonyms);
      this.data = await loadHome(this);
    }, (error) => t("signin.failed", { error: error.message }));
    if (!ok) {
      this.wallet = null;
      this.identity = null;
      setToken(null);
    }
    this.render();
  },

  async refresh(text) {
    const ok = await this.busy(null, async () => {
      this.data = await loadHome(this);
    });
    this.render();
    if (ok && text) this.status(text, "ok");
  },

  lock() {
    this.wallet = null;
    this.identity = null;
    this.inboxStatement = null;
    this.data = null;
    setToken(null);
    this.status("");
    this.render();
  },

  render() {
    document.documentElement.lang = lang();
    document.title = t("app.title");
    const header = h(
      "header",
      {},
      h("h1", {}, t("app.title")),
      h(
        "button",
        {
          id: "lang-toggle",
          type: "button",
          class: "link",
          onclick: () => {
            setLang(lang() === "en" ? "zh-CN" : "en");
            this.render();
          },
        },
        t("lang.toggle"),
      ),
    );
    const status = h("p", { id: "status", role: "status", dataset: { kind: this.message.kind } },
      this.messageText());
    root.replaceChildren(header, status, this.view());
    root.dataset.view = root.lastChild.id;
  },

  view() {
    if (this.wallet && this.backupPhrase) return backupView(this);
    if (this.wallet && this.data) return this.home();
    return this.keystore.has() ? unlockView(this) : setupView(this);
  },

  home() {
    return h(
      "div",
      { id: "home" },
      h(
        "div",
        { class: "row account" },
        h("span", { id: "account", dataset: { address: this.address } },
          t("home.account", { address: short(this.address) })),
        h("button", { id: "refresh-btn", type: "button", class: "link",
          onclick: () => this.refresh() }, t("home.refresh")),
        h("button", { id: "lock-btn", type: "button", class: "link", onclick: () => this.lock() },
          t("home.lock")),
      ),
      linkableNote(this),
      proposalsSection(this, this.data),
      recordsSection(this, this.data),
      consentsSection(this, this.data),
      grantSection(this),
      referralsSection(this, this.data),
      consultationsSection(this, this.data),
      addressesSection(this),
      disclosureSection(this, this.data),
    );
  },
};

setLang(initialLang());
setToken(null); // a fresh page holds no unlocked key: sign in again after unlocking
app.render();
root.dataset.ready = "true";
