// Agree to a referral: the patient signs a ReferralConsent (EIP-712) naming who refers them,
// to whom, which records go along and why; the wallet shows the signed request, which the
// referring member submits (POST /referrals) to create the referral on chain.
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { DIRECTIONS, signReferral } from "./typed.js";

const VALID_S = 24 * 3600; // the referrer has a day to submit it

function memberSelect(id, label, members) {
  return h("label", { for: id }, label,
    h("select", { id }, members.map((m) => h("option", { value: m.address }, m.name))));
}

export function referralConsentSection(app, data) {
  const carers = app.members.filter(
    (m) => m.active && (m.roles.includes("hospital") || m.roles.includes("clinic")),
  );
  const form = h(
    "form",
    { id: "refer-form", onsubmit: (e) => review(e, app, data) },
    memberSelect("refer-referrer", t("refer.referrer"), carers),
    memberSelect("refer-receiver", t("refer.receiver"), carers),
    h("label", { for: "refer-direction" }, t("refer.direction"),
      h("select", { id: "refer-direction" },
        DIRECTIONS.map((d) => h("option", { value: d }, t(`direction.${d}`))))),
    h("fieldset", {}, h("legend", {}, t("refer.records")),
      h("div", { class: "choices" }, data.records.map((r) =>
        h("label", { class: "choice" },
          h("input", { type: "checkbox", name: "refer-record", value: String(r.record_id) }),
          `#${r.record_id} ${t(`cat.${r.category}`)}`)))),
    h("label", { for: "refer-reason" }, t("refer.reason"),
      h("input", { id: "refer-reason", type: "text", maxlength: "1024" })),
    h("button", { id: "refer-review", type: "submit" }, t("grant.review")),
  );
  return h(
    "section",
    { id: "refer", class: "card" },
    h("h2", {}, t("refer.title")),
    h("p", { class: "muted small" }, t("refer.intro")),
    data.records.length ? form : h("p", { class: "muted" }, t("records.empty")),
    h("div", { id: "refer-confirm-box" }),
  );
}

function termsFrom(form) {
  const recordIds = [...form.querySelectorAll("input[name=refer-record]:checked")].map((i) =>
    Number(i.value),
  );
  const referrer = form.querySelector("#refer-referrer").value;
  const receiver = form.querySelector("#refer-receiver").value;
  if (!recordIds.length || referrer === receiver) return null;
  return {
    referrer,
    receiver,
    direction: form.querySelector("#refer-direction").value,
    record_ids: recordIds,
    reason: form.querySelector("#refer-reason").value.trim(),
  };
}

export function describeReferral(app, data, terms) {
  const records = terms.record_ids.map((id) => {
    const found = data.records.find((r) => r.record_id === id);
    return `#${id} ${found ? t(`cat.${found.category}`) : ""}`.trim();
  });
  return t("refer.summary", {
    referrer: fmt.memberName(app.members, terms.referrer),
    receiver: fmt.memberName(app.members, terms.receiver),
    direction: t(`direction.${terms.direction}`),
    records: records.join(t("list.sep")),
  });
}

function review(event, app, data) {
  event.preventDefault();
  const box = document.getElementById("refer-confirm-box");
  box.replaceChildren();
  const terms = termsFrom(event.currentTarget);
  if (!terms) return app.status(t("refer.pick"), "error");
  app.status("");
  box.append(
    h("p", { id: "refer-summary", class: "summary" }, describeReferral(app, data, terms)),
    h("div", { class: "row" },
      h("button", { id: "refer-sign", type: "button", onclick: () => sign(app, terms, box) },
        t("grant.sign")),
      h("button", { type: "button", class: "link", onclick: () => box.replaceChildren() },
        t("grant.cancel"))),
  );
}

async function sign(app, terms, box) {
  let body;
  const ok = await app.busy(t("grant.working"), async () => {
    const s = await api("/patients/me/signing");
    const deadline = Math.floor(Date.now() / 1000) + VALID_S;
    body = await signReferral(app.wallet, terms, s.referral_nonce, deadline, s.chain_id,
      s.referral_registry);
  });
  if (!ok) return;
  const text = JSON.stringify(body, null, 1);
  box.append(
    h("p", {}, t("refer.handover")),
    h("textarea", { id: "refer-signed", readonly: true, rows: "8" }, text),
    h("button", { type: "button", class: "link",
      onclick: () => navigator.clipboard?.writeText(text) }, t("refer.copy")),
  );
  app.status(t("refer.signed"), "ok");
}
