// The signed-in screen's lists: my records with who read them, my active consents (revoke),
// my referrals on chain with their status. Data comes from the API's index of the chain,
// which every gateway of the alliance holds whole. Referral proposals are not on chain yet:
// each lives at the proposing member's gateway, so this gateway gathers them from all
// (POST /patients/me/referral-inbox, with the patient's signed statement: referral.js).
// One token covers the primary and every pseudonym, so each list spans all of them; a
// consent or referral is labelled with the custodian whose pseudonym it names, and revoking
// or withdrawing signs with that pseudonym (identity.js), never one the patient picks.
import { api, apiAll } from "../shared/api.js";
import { loadConsultations } from "./consultation.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { coarseDeadline } from "./grant.js";
import { recordLabels } from "./labels.js";
import { keptAt } from "./pseudonym_view.js";
import { inboxStatement } from "./statements.js";
import { revokeMessage, signRevoke, signWithdraw } from "./typed.js";

// Everything the lists need, fetched together.
export async function loadHome(app) {
  const statement = inboxStatement(app, await api("/patients/me/signing"));
  const [records, accesses, consents, referrals, inbox, consultations] = await Promise.all([
    apiAll("/patients/me/records"),
    apiAll("/patients/me/accesses"),
    apiAll("/consents"),
    apiAll("/referrals"),
    statement.then((body) => api("/patients/me/referral-inbox", { method: "POST", body })),
    loadConsultations(),
  ]);
  return {
    records: withLabels(records, inbox.labels || []),
    accesses,
    consents,
    referrals,
    consultations,
    proposals: inbox.proposals,
    unreachable: inbox.unreachable,
  };
}

// A record's security labels as the gateway that received its header told (this one lists
// them with the record; another one's came with the inbox), null where nobody did.
function withLabels(records, labels) {
  const byId = new Map(labels.map((l) => [l.record_id, l]));
  return records.map((r) => {
    const found = r.confidentiality == null ? byId.get(r.record_id) : null;
    return found ? { ...r, confidentiality: found.confidentiality, sensitivity: found.sensitivity } : r;
  });
}

export function recordsSection(app, data) {
  const items = data.records.map((record) => {
    const reads = data.accesses.filter((a) => a.record_id === record.record_id);
    return h(
      "li",
      {
        class: record.erased ? "record erased" : "record",
        dataset: { recordId: record.record_id, erased: record.erased ? "yes" : "no" },
      },
      h(
        "div",
        { class: "what" },
        t("records.line", {
          category: t(`cat.${record.category}`),
          custodian: record.custodian_name || fmt.memberName(app.members, record.custodian),
          date: fmt.day(record.timestamp),
        }),
        recordLabels(record)
          ? h("span", { class: "badge labels", dataset: { confidentiality: record.confidentiality || "" } },
            recordLabels(record))
          : null,
        record.erased
          ? h("span", { class: "badge erased" }, t("records.erased"))
          : h("button", { class: "erase danger", type: "button",
            onclick: () => erase(app, record) }, t("records.erase")),
      ),
      h("div", { class: "sub" }, t("records.accesses")),
      reads.length
        ? h("ul", { class: "accesses" }, reads.map((a) => accessItem(app, a)))
        : h("p", { class: "muted" }, t("records.noaccess")),
    );
  });
  return h(
    "section",
    { id: "records", class: "card" },
    h("h2", {}, t("records.title")),
    items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, t("records.empty")),
  );
}

function accessItem(app, access) {
  const emergency = access.basis === "break-glass";
  const review = emergency ? fmt.reviewState(access) : undefined;
  return h(
    "li",
    {
      class: emergency ? `access basis-break-glass review-${review}` : `access basis-${access.basis}`,
      dataset: {
        accessId: access.access_id,
        basis: access.basis,
        reader: access.reader,
        ...(emergency ? { review } : {}),
      },
    },
    emergency ? h("strong", { class: "badge" }, t("review.badge")) : null,
    emergency ? " " : null,
    t("access.line", {
      reader: access.reader_name || fmt.memberName(app.members, access.reader),
      time: fmt.moment(access.timestamp),
      basis: fmt.basis(access),
      purpose: t(`purpose.${access.purpose}`),
    }),
  );
}

// " · records kept at X" for a consent or referral under one of the wallet's pseudonyms.
function atSuffix(app, patient) {
  const custodian = keptAt(app, patient);
  return custodian ? ` · ${t("kept.at", { custodian })}` : "";
}

// The key for the address a consent or referral names (one of this wallet's, or an error).
function signerFor(app, address) {
  const signer = app.identity.signerFor(address);
  if (!signer) throw new Error(t("sign.notmine", { address }));
  return signer;
}

export function activeConsents(consents, now = Date.now() / 1000) {
  return consents.filter((c) => !c.revoked && c.valid_until > now);
}

export function consentsSection(app, data) {
  const items = activeConsents(data.consents).map((c) =>
    h(
      "li",
      { class: "consent", dataset: { consentId: c.consent_id } },
      h(
        "span",
        {},
        t("consents.line", {
          grantee: fmt.grantee(app.members, c),
          categories: fmt.categories(c.categories),
          purposes: fmt.purposes(c.purposes),
          date: fmt.lastDay(c.valid_until),
        }),
        atSuffix(app, c.patient),
      ),
      h(
        "button",
        { class: "revoke danger", type: "button", onclick: () => reviewRevoke(app, c) },
        t("consents.revoke"),
      ),
    ),
  );
  return h(
    "section",
    { id: "consents", class: "card" },
    h("h2", {}, t("consents.title")),
    items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, t("consents.empty")),
    h("div", { id: "revoke-confirm-box" }),
  );
}

// What revoking this consent means, in plain words.
export function describeRevoke(app, consent) {
  return t("revoke.summary", {
    id: consent.consent_id,
    grantee: fmt.grantee(app.members, consent),
    categories: fmt.categories(consent.categories),
    purposes: fmt.purposes(consent.purposes),
  });
}

// Revoke, step 1: the consent in plain words next to the exact typed message; nothing is
// signed until the patient presses Sign (Cancel signs nothing).
async function reviewRevoke(app, consent) {
  const box = document.getElementById("revoke-confirm-box");
  box.replaceChildren();
  delete box.dataset.consentId;
  let domain;
  const ok = await app.busy(null, async () => {
    signerFor(app, consent.patient); // not ours: say so before showing anything to sign
    domain = await api(`/consents/domain?patient=${consent.patient}`);
  });
  if (!ok) return;
  app.status("");
  const deadline = coarseDeadline(Math.floor(Date.now() / 1000));
  const message = revokeMessage(consent.patient, consent.consent_id, domain.nonce, deadline);
  box.dataset.consentId = consent.consent_id;
  box.append(
    h("p", { id: "revoke-summary", class: "summary warn" }, describeRevoke(app, consent)),
    h("details", {}, h("summary", {}, t("grant.signing")),
      h("pre", { id: "revoke-typed" }, JSON.stringify({ domain, message }, null, 1))),
    h("div", { class: "row" },
      h("button", { id: "revoke-sign", type: "button", class: "danger",
        onclick: () => revoke(app, consent, domain, deadline) }, t("revoke.sign")),
      h("button", { id: "revoke-cancel", type: "button", class: "link",
        onclick: () => {
          box.replaceChildren();
          delete box.dataset.consentId;
        } }, t("revoke.cancel"))),
  );
}

// Revoke, step 2: sign exactly the message shown and have the API relay it.
async function revoke(app, consent, domain, deadline) {
  const consentId = consent.consent_id;
  const done = await app.busy(t("consents.revoking"), async () => {
    const body = await signRevoke(
      signerFor(app, consent.patient),
      consentId,
      domain.nonce,
      deadline,
      domain.chain_id,
      domain.consent_registry,
    );
    await api(`/consents/${consentId}/revoke`, { method: "POST", body });
  });
  if (done) await app.refresh(["consents.revoked", { id: consentId }]);
}

// Erasure: for good, so the patient confirms in words first; the custodian's gateway
// deletes the ciphertext and marks every version erased on chain.
async function erase(app, record) {
  if (!window.confirm(t("records.eraseConfirm", { id: record.record_id }))) return;
  const done = await app.busy(t("records.erasing"), async () => {
    await api(`/records/${record.record_id}/erase`, { method: "POST" });
  });
  if (done) await app.refresh(["records.erasedDone", { id: record.record_id }]);
}

export function referralsSection(app, data) {
  // Open ones (waiting for the receiver, or accepted) first, newest first within each.
  const open = (r) => (r.status === "created" || r.status === "accepted") && !r.expired;
  const sorted = [...data.referrals].sort(
    (a, b) => open(b) - open(a) || b.referral_id - a.referral_id,
  );
  const items = sorted.map((r) =>
    h(
      "li",
      { class: "referral", dataset: { referralId: r.referral_id, status: r.status } },
      h("span", { class: "line" }, t("referrals.line", {
        id: r.referral_id,
        referrer: fmt.memberName(app.members, r.referrer),
        receiver: fmt.memberName(app.members, r.receiver),
        direction: t(`direction.${r.direction}`),
        records: r.record_ids.map((id) => `#${id}`).join(", "),
        status: r.expired && open({ ...r, expired: false }) ? t("status.expired")
          : t(`status.${r.status}`),
      }), atSuffix(app, r.patient)),
      open(r) ? h("span", { class: "muted small ends" }, " " + t("referrals.ends",
        { date: fmt.day(r.expires_at) })) : null,
      open(r) ? h("button", { class: "withdraw link", type: "button",
        onclick: () => reviewWithdraw(app, r) }, t("referrals.withdraw")) : null,
    ),
  );
  return h(
    "section",
    { id: "referrals", class: "card" },
    h("h2", {}, t("referrals.title")),
    items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, t("referrals.empty")),
    h("div", { id: "withdraw-confirm-box" }),
    h("p", { class: "muted small" }, t("referrals.note")),
  );
}

// Withdraw, step 1: what ends, in plain words; nothing is signed until Sign is pressed.
function reviewWithdraw(app, referral) {
  const box = document.getElementById("withdraw-confirm-box");
  box.dataset.referralId = referral.referral_id;
  box.replaceChildren(
    h("p", { id: "withdraw-summary", class: "summary warn" }, t("withdraw.summary", {
      id: referral.referral_id,
      receiver: fmt.memberName(app.members, referral.receiver),
      records: referral.record_ids.map((id) => `#${id}`).join(", "),
    })),
    h("div", { class: "row" },
      h("button", { id: "withdraw-sign", type: "button", class: "danger",
        onclick: () => withdraw(app, referral) }, t("withdraw.sign")),
      h("button", { id: "withdraw-cancel", type: "button", class: "link",
        onclick: () => {
          box.replaceChildren();
          delete box.dataset.referralId;
        } }, t("revoke.cancel"))),
  );
}

// Withdraw, step 2: the patient signs ReferralRegistry's Withdraw (EIP-712); a member of
// this gateway relays it (withdrawBySig), so the patient pays nothing.
async function withdraw(app, referral) {
  const referralId = referral.referral_id;
  const done = await app.busy(t("withdraw.working"), async () => {
    const signer = signerFor(app, referral.patient);
    const s = await api(`/patients/me/signing?patient=${signer.address}`);
    const deadline = coarseDeadline(Math.floor(Date.now() / 1000));
    const body = await signWithdraw(signer, referralId, s.referral_nonce, deadline,
      s.chain_id, s.referral_registry);
    await api(`/referrals/${referralId}/withdraw`, { method: "POST", body });
  });
  if (done) await app.refresh(["withdraw.done", { id: referralId }]);
}
