// What the patient sees of their pseudonyms: a plain warning when the key has none (imported
// without its phrase: one address, so linkable), the address each care provider registers
// their records under (to show at the front desk), and which custodian a consent or
// referral is about. Never a derivation path.
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";

export function linkableNote(app) {
  if (!app.identity?.linkable) return null;
  return h("p", { id: "linkable-note", class: "summary warn" }, t("identity.linkable"));
}

// The custodian's name if `address` is one of this wallet's pseudonyms, else null.
export function keptAt(app, address) {
  const custodian = app.identity?.custodianOf(address);
  return custodian ? fmt.memberName(app.members, custodian) : null;
}

export function addressesSection(app) {
  if (!app.identity || app.identity.linkable) return null;
  const items = [...app.identity.byCustodian].map(([custodian, w]) =>
    h(
      "li",
      { class: "pseudonym", dataset: { custodian, address: w.address } },
      h("span", {}, fmt.memberName(app.members, custodian)),
      " ",
      h("code", { class: "addr" }, w.address),
    ),
  );
  return h(
    "section",
    { id: "addresses", class: "card" },
    h(
      "details",
      {},
      h("summary", {}, t("identity.title")),
      h("p", { class: "muted small" }, t("identity.note")),
      h("ul", { class: "list" }, items),
    ),
  );
}
