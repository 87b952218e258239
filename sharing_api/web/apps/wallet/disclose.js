// Disclosure to the regulator: nothing on chain links a patient's pseudonyms, so an audit
// that needs to see them as one person needs the patient's word. The wallet makes the same
// JSON document as sharing_api/patient/disclosure.py (make_disclosure): a statement naming
// the regulator, the chain and the addresses, signed (EIP-191) by each chosen pseudonym, and
// offers it as a download. It goes to no server; the patient hands the file over.
import { getAddress } from "ethers";
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";

export const KIND = "alliance-pseudonym-disclosure";
export const VERSION = 1;
export const MAX_ADDRESSES = 64;

function rfc3339(unixSeconds) {
  return new Date(unixSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

// The exact text every address signs (disclosure.py disclosure_text: checksummed, sorted).
export function disclosureText(addresses, regulator, chainId, issuedAt) {
  const listed = addresses.map((a) => getAddress(a)).sort();
  return [
    "AllianceLedger pseudonym disclosure",
    "The addresses below are one patient's, disclosed to the regulator for audit.",
    `Regulator: ${getAddress(regulator)}`,
    `Chain ID: ${chainId}`,
    `Issued At: ${rfc3339(issuedAt)}`,
    ...listed,
  ].join("\n");
}

// The document: the statement's fields and each signer's signature of it.
export async function makeDisclosure(signers, regulator, chainId, issuedAt) {
  if (signers.length < 2 || signers.length > MAX_ADDRESSES) {
    throw new Error(t("disclose.pick"));
  }
  const addresses = signers.map((s) => getAddress(s.address)).sort();
  const text = disclosureText(addresses, regulator, chainId, issuedAt);
  const signatures = {};
  for (const s of signers) signatures[getAddress(s.address)] = await s.signMessage(text);
  return {
    kind: KIND,
    version: VERSION,
    regulator: getAddress(regulator),
    chain_id: chainId,
    issued_at: issuedAt,
    addresses,
    signatures,
  };
}

// Custodians whose pseudonym the lists show in use (records, consents, referrals).
function inUse(app, data) {
  const used = new Set(data.records.map((r) => String(r.custodian).toLowerCase()));
  for (const row of [...data.consents, ...data.referrals]) {
    const custodian = app.identity.custodianOf(row.patient);
    if (custodian) used.add(custodian);
  }
  return used;
}

export function disclosureSection(app, data) {
  const identity = app.identity;
  if (!identity || identity.byCustodian.size < 2) return null;
  const regulators = app.members.filter((m) => m.active && m.roles.includes("regulator"));
  if (!regulators.length) return null;
  const used = inUse(app, data);
  const choices = [...identity.byCustodian.keys()].map((custodian) =>
    h("label", { class: "choice" },
      h("input", { type: "checkbox", name: "disclose-at", value: custodian,
        checked: used.has(custodian) }),
      fmt.memberName(app.members, custodian)));
  return h(
    "section",
    { id: "disclose", class: "card" },
    h("details", {},
      h("summary", {}, t("disclose.title")),
      h("p", { class: "muted small" }, t("disclose.intro")),
      h("fieldset", {}, h("legend", {}, t("disclose.which")), h("div", { class: "choices" }, choices)),
      h("label", { for: "disclose-regulator" }, t("disclose.regulator"),
        h("select", { id: "disclose-regulator" },
          regulators.map((m) => h("option", { value: m.address }, m.name)))),
      h("button", { id: "disclose-btn", type: "button", onclick: () => disclose(app) },
        t("disclose.button"))),
  );
}

async function disclose(app) {
  const picked = [...document.querySelectorAll("input[name=disclose-at]:checked")]
    .map((i) => app.identity.at(i.value));
  if (picked.length < 2) return app.status(t("disclose.pick"), "error");
  const regulator = document.getElementById("disclose-regulator").value;
  let count = 0;
  const ok = await app.busy(t("disclose.working"), async () => {
    const { chain_id: chainId } = await api("/consents/domain");
    const issuedAt = Math.floor(Date.now() / 1000);
    const doc = await makeDisclosure(picked, regulator, chainId, issuedAt);
    download(`pseudonym-disclosure-${issuedAt}.json`, `${JSON.stringify(doc, null, 2)}\n`);
    count = doc.addresses.length;
  });
  if (ok) app.status(["disclose.done", { count }], "ok");
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = h("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
