// Grant a consent: a form, then the terms in plain words next to the exact typed message,
// then an EIP-712 signature made here (ethers v6) that the API relays to the chain.
// A consent covers the patient's records kept at one custodian: the form asks which, and the
// wallet signs with that custodian's pseudonym (identity.js); a key without a phrase signs
// with its one address. A consent that covers records labelled restricted, very restricted
// or sensitive (labels.js) says so in plain words and cannot be signed until the patient
// ticks the opt-in box.
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { describeSensitive, sensitiveCovered } from "./labels.js";
import { CATEGORIES, PURPOSES, ROLES, ZERO_ADDRESS, ZERO_HASH, grantMessage, signGrant } from "./typed.js";

const DAY = 86_400;
const HOUR = 3_600;
const COARSE_DEADLINE_S = 600; // as the SDK: everyone signing in the same 10 minutes shares it

// Signed times rounded (start back to the hour, deadline forward), so a pseudonym's consents
// cannot be linked to the patient's other pseudonyms by when they were signed.
export const floorTo = (t, step) => t - (t % step);
export const ceilTo = (t, step) => Math.ceil(t / step) * step;
export const coarseDeadline = (now) => ceilTo(now + 600, COARSE_DEADLINE_S);

function checkboxes(name, labels, prefix, checked) {
  return h(
    "div",
    { class: "choices" },
    labels.map((label) =>
      h(
        "label",
        { class: "choice" },
        h("input", { type: "checkbox", name, value: label, checked: checked.includes(label) }),
        t(`${prefix}.${label}`),
      ),
    ),
  );
}

export function grantSection(app) {
  const carers = app.members.filter(
    (m) => m.active && (m.roles.includes("hospital") || m.roles.includes("clinic")),
  );
  const inMonth = fmt.day(Date.now() / 1000 + 30 * DAY);
  // Where the records are kept (whose pseudonym signs): only a key with a phrase has a choice.
  const keptAt = app.identity && !app.identity.linkable
    ? h("label", { for: "grant-at" }, t("grant.at"),
      h("select", { id: "grant-at" },
        carers.map((m) => h("option", { value: m.address }, m.name))))
    : null;
  const form = h(
    "form",
    { id: "grant-form", onsubmit: (e) => review(e, app) },
    keptAt,
    h("fieldset", {}, h("legend", {}, t("grant.to")),
      h("label", { class: "choice" },
        h("input", { type: "radio", name: "grant-to", value: "member", checked: true }),
        t("grant.to.member")),
      h("select", { id: "grant-member", "aria-label": t("grant.member") },
        carers.map((m) => h("option", { value: m.address }, m.name))),
      h("label", { class: "choice" },
        h("input", { type: "radio", name: "grant-to", value: "role" }),
        t("grant.to.role")),
      h("select", { id: "grant-role", "aria-label": t("grant.role") },
        Object.keys(ROLES).map((r) => h("option", { value: r }, t(`roles.${r}`))))),
    h("fieldset", {}, h("legend", {}, t("grant.categories")),
      checkboxes("cat", CATEGORIES, "cat", [])),
    h("fieldset", {}, h("legend", {}, t("grant.purposes")),
      checkboxes("purpose", PURPOSES, "purpose", ["treatment"])),
    h("label", { for: "grant-until" }, t("grant.until"),
      h("input", { id: "grant-until", type: "date", value: inMonth, min: fmt.day(Date.now() / 1000) })),
    h("button", { id: "grant-review", type: "submit" }, t("grant.review")),
  );
  return h(
    "section",
    { id: "grant", class: "card" },
    h("h2", {}, t("grant.title")),
    form,
    h("div", { id: "grant-confirm-box" }),
  );
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name=${name}]:checked`)].map((i) => i.value);
}

// The terms as GrantIn takes them, from the form; null when incomplete.
function termsFrom(form, patient, nonce) {
  const categories = checked(form, "cat");
  const purposes = checked(form, "purpose");
  const until = form.querySelector("#grant-until").value;
  if (!categories.length || !purposes.length || !until) return null;
  // Inclusive last day: the consent holds until the next midnight UTC.
  const validUntil = Date.parse(`${until}T00:00:00Z`) / 1000 + DAY;
  const now = Math.floor(Date.now() / 1000);
  if (!(validUntil > now)) return null;
  const validFrom = floorTo(now - 120, HOUR); // the ledger's clock may trail this one a little
  const toRole = form.querySelector("input[name=grant-to]:checked").value === "role";
  const role = form.querySelector("#grant-role").value;
  return {
    patient,
    grantee: toRole ? ZERO_ADDRESS : form.querySelector("#grant-member").value,
    grantee_role: toRole ? ROLES[role] : 0,
    categories,
    purposes,
    valid_from: validFrom,
    valid_until: validUntil,
    document_hash: ZERO_HASH,
    nonce,
    deadline: coarseDeadline(now),
  };
}

export function describe(app, terms, custodian) {
  return t(custodian ? "grant.summary.at" : "grant.summary", {
    custodian: custodian && fmt.memberName(app.members, custodian),
    grantee: fmt.grantee(app.members, terms),
    categories: fmt.categories(terms.categories),
    purposes: fmt.purposes(terms.purposes),
    date: fmt.lastDay(terms.valid_until),
  });
}

async function review(event, app) {
  event.preventDefault();
  const form = event.currentTarget;
  const box = document.getElementById("grant-confirm-box");
  box.replaceChildren();
  const custodian = form.querySelector("#grant-at")?.value || null;
  const patient = custodian ? app.identity.addressAt(custodian) : app.address;
  let domain;
  const ok = await app.busy(null, async () => {
    domain = await api(`/consents/domain?patient=${patient}`);
  });
  if (!ok) return;
  const terms = termsFrom(form, patient, domain.nonce);
  if (!terms) return app.status(t("grant.pick"), "error");
  app.status("");
  const message = grantMessage(terms);
  box.dataset.patient = patient;
  const sensitive = sensitiveCovered(app.data?.records || [], terms);
  const signBtn = h("button", { id: "grant-sign", type: "button", disabled: sensitive.length > 0,
    onclick: () => sign(app, terms, domain, sensitive.length > 0) }, t("grant.sign"));
  box.append(
    h("p", { id: "grant-summary", class: "summary" }, describe(app, terms, custodian)),
    sensitive.length ? optIn(sensitive, signBtn) : null,
    h("details", {}, h("summary", {}, t("grant.signing")),
      h("pre", { id: "grant-typed" }, JSON.stringify({ domain, message }, null, 1))),
    h("div", { class: "row" },
      signBtn,
      h("button", { id: "grant-cancel", type: "button", class: "link",
        onclick: () => box.replaceChildren() }, t("grant.cancel"))),
  );
}

// The plain-words warning and the box the patient must tick before Sign is enabled.
function optIn(records, signBtn) {
  return h("div", { id: "grant-sensitive", class: "sensitive" },
    h("p", { id: "grant-sensitive-text" }, describeSensitive(records)),
    h("label", { class: "choice" },
      h("input", { id: "grant-optin", type: "checkbox",
        onchange: (e) => { signBtn.disabled = !e.currentTarget.checked; } }),
      t("grant.optin")));
}

async function sign(app, terms, domain, needsOptIn) {
  if (needsOptIn && !document.getElementById("grant-optin")?.checked) {
    return app.status(t("grant.optin.needed"), "error");
  }
  let granted;
  const ok = await app.busy(t("grant.working"), async () => {
    const signer = app.identity.signerFor(terms.patient);
    const body = await signGrant(signer, terms, domain.chain_id, domain.consent_registry);
    granted = await api("/consents", { method: "POST", body });
  });
  if (ok) await app.refresh(["grant.done", { id: granted.consent_id }]);
}
