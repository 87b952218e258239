// Grant a consent: a form, then the terms in plain words next to the exact typed message,
// then an EIP-712 signature made here (ethers v6) that the API relays to the chain.
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { CATEGORIES, PURPOSES, ROLES, ZERO_ADDRESS, ZERO_HASH, grantMessage, signGrant } from "./typed.js";

const DAY = 86_400;

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
  const form = h(
    "form",
    { id: "grant-form", onsubmit: (e) => review(e, app) },
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
function termsFrom(form, app, nonce) {
  const categories = checked(form, "cat");
  const purposes = checked(form, "purpose");
  const until = form.querySelector("#grant-until").value;
  if (!categories.length || !purposes.length || !until) return null;
  // Inclusive last day: the consent holds until the next midnight UTC.
  const validUntil = Date.parse(`${until}T00:00:00Z`) / 1000 + DAY;
  const now = Math.floor(Date.now() / 1000);
  if (!(validUntil > now)) return null;
  const toRole = form.querySelector("input[name=grant-to]:checked").value === "role";
  const role = form.querySelector("#grant-role").value;
  return {
    patient: app.address,
    grantee: toRole ? ZERO_ADDRESS : form.querySelector("#grant-member").value,
    grantee_role: toRole ? ROLES[role] : 0,
    categories,
    purposes,
    valid_from: now - 120, // the ledger's clock may trail this one a little
    valid_until: validUntil,
    document_hash: ZERO_HASH,
    nonce,
    deadline: now + 600,
  };
}

export function describe(app, terms) {
  return t("grant.summary", {
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
  let domain;
  const ok = await app.busy(null, async () => {
    domain = await api(`/consents/domain?patient=${app.address}`);
  });
  if (!ok) return;
  const terms = termsFrom(form, app, domain.nonce);
  if (!terms) return app.status(t("grant.pick"), "error");
  app.status("");
  const message = grantMessage(terms);
  box.append(
    h("p", { id: "grant-summary", class: "summary" }, describe(app, terms)),
    h("details", {}, h("summary", {}, t("grant.signing")),
      h("pre", { id: "grant-typed" }, JSON.stringify({ domain, message }, null, 1))),
    h("div", { class: "row" },
      h("button", { id: "grant-sign", type: "button", onclick: () => sign(app, terms, domain) },
        t("grant.sign")),
      h("button", { id: "grant-cancel", type: "button", class: "link",
        onclick: () => box.replaceChildren() }, t("grant.cancel"))),
  );
}

async function sign(app, terms, domain) {
  let granted;
  const ok = await app.busy(t("grant.working"), async () => {
    const body = await signGrant(app.wallet, terms, domain.chain_id, domain.consent_registry);
    granted = await api("/consents", { method: "POST", body });
  });
  if (ok) await app.refresh(["grant.done", { id: granted.consent_id }]);
}
