// The referral inbox. A member proposes to refer the patient (POST /referral-proposals); the
// wallet shows the terms in plain words. Accept = the patient signs the ReferralConsent
// (EIP-712) here; the API checks that signature and submits it as the referring member
// (ReferralRegistry.createWithSig), so the referral exists on chain only with the patient's
// agreement. Decline = nothing goes on chain.
// The inbox is the alliance's: proposals made at any member's gateway, gathered by this one.
// A proposal is named by its referrer and id (ids are per gateway); its answer goes through
// this gateway to the proposing member's, which checks the signature and acts.
// A proposal names the patient's address it is about (`patient`: the pseudonym at the
// referrer; absent on older gateways, meaning the primary): the wallet answers with that
// address's key and says which in the body.
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { joinList, t } from "./i18n.js";
import { signDecline } from "./statements.js";
import { signReferral } from "./typed.js";

const SIGNATURE_VALID_S = 600; // the API submits at once; a short deadline is enough
// How long an accepted referral lasts (the chain allows 90 days at most): the patient sees
// the end date in words before signing it, and signs exactly that date.
const REFERRAL_DAYS = 30;
const ANSWERED_SHOWN = 5;

function referrerName(app, p) {
  return p.referrer_name || fmt.memberName(app.members, p.referrer);
}

// Where a proposal is answered: this gateway or the proposing member's.
function answerPath(p, action) {
  return `/patients/me/referral-inbox/${p.referrer}/${p.proposal_id}/${action}`;
}

// The key for the address a proposal names, and the `patient` field the answer carries
// (null for the primary: the server's default, so older gateways see today's body).
function answerer(app, p) {
  const primary = app.wallet.address.toLowerCase();
  if (!p.patient || p.patient.toLowerCase() === primary) return { signer: app.wallet, patient: null };
  const signer = app.identity?.signerFor(p.patient);
  if (!signer) throw new Error(t("sign.notmine", { address: p.patient }));
  return { signer, patient: signer.address };
}

function signingPath(patient) {
  return patient ? `/patients/me/signing?patient=${patient}` : "/patients/me/signing";
}

function itemData(p) {
  return { proposalId: p.proposal_id, referrer: p.referrer, status: p.status,
    origin: p.origin_url ? "remote" : "local" };
}

// The terms as sentences: who refers me where and why; who may then read what; until when.
export function describeProposal(app, p, endsAt) {
  const params = {
    ends: fmt.day(endsAt),
    days: REFERRAL_DAYS,
    referrer: referrerName(app, p),
    receiver: fmt.memberName(app.members, p.receiver),
    direction: t(`direction.${p.direction}`),
    reason: p.reason,
    categories: fmt.categories(p.categories),
    records: p.record_ids.map((id) => `#${id}`).join(", "),
    date: fmt.day(p.expires_at),
  };
  return {
    terms: t(p.reason ? "proposals.terms" : "proposals.terms.noreason", params),
    reads: t("proposals.reads", params),
    until: t("proposals.until", params),
    ends: t("proposals.ends", params),
  };
}

function pendingItem(app, p) {
  const endsAt = Math.floor(Date.now() / 1000) + REFERRAL_DAYS * 86400;
  const words = describeProposal(app, p, endsAt);
  return h(
    "li",
    { class: "proposal", dataset: itemData(p) },
    h("p", { class: "terms" }, words.terms),
    h("p", { class: "reads" }, words.reads),
    h("p", { class: "ends" }, words.ends),
    h("p", { class: "muted small" }, words.until),
    h(
      "div",
      { class: "row" },
      h("button", { class: "accept", type: "button", onclick: () => accept(app, p, endsAt) },
        t("proposals.accept")),
      h("button", { class: "decline link", type: "button", onclick: () => decline(app, p) },
        t("proposals.decline")),
    ),
  );
}

function answeredItem(app, p) {
  return h(
    "li",
    { class: "proposal answered", dataset: itemData(p) },
    t("proposals.answered", {
      referrer: referrerName(app, p),
      receiver: fmt.memberName(app.members, p.receiver),
      status: t(`proposal.${p.status}`, { id: p.referral_id }),
    }),
  );
}

export function proposalsSection(app, data) {
  const pending = data.proposals.filter((p) => p.status === "pending");
  const answered = data.proposals.filter((p) => p.status !== "pending").slice(0, ANSWERED_SHOWN);
  return h(
    "section",
    { id: "proposals", class: "card" },
    h("h2", {}, t("proposals.title")),
    pending.length
      ? h("ul", { class: "list" }, pending.map((p) => pendingItem(app, p)))
      : h("p", { class: "muted" }, t("proposals.empty")),
    answered.length
      ? h("ul", { class: "list answered" }, answered.map((p) => answeredItem(app, p)))
      : null,
    unreachableNote(data.unreachable || []),
    h("p", { class: "muted small" }, t("proposals.note")),
  );
}

// Gateways that did not answer: their proposals are missing here, and the patient is told.
function unreachableNote(unreachable) {
  if (!unreachable.length) return null;
  const names = joinList(unreachable.map((u) => joinList(u.names)));
  return h("p", { id: "inbox-unreachable", class: "warn small",
    dataset: { gateways: unreachable.map((u) => u.gateway_url).join(" ") } },
  t("proposals.unreachable", { names }));
}

async function accept(app, p, endsAt) {
  let referralId = null;
  const ok = await app.busy(t("proposals.accepting"), async () => {
    const { signer, patient } = answerer(app, p);
    const s = await api(signingPath(patient));
    const deadline = Math.floor(Date.now() / 1000) + SIGNATURE_VALID_S;
    const terms = {
      referrer: p.referrer,
      receiver: p.receiver,
      direction: p.direction,
      record_ids: p.record_ids,
      reason: p.reason,
      // The wallet commits to the reason it showed, under the proposal's salt (typed.js):
      // a gateway that changed the text or the salt gets a signature the chain refuses.
      reason_salt: p.reason_salt,
      expires_at: endsAt,
    };
    const signed = await signReferral(signer, terms, s.referral_nonce, deadline, s.chain_id,
      s.referral_registry);
    const body = { ...signed.patient_signature, expires_at: signed.expires_at };
    if (patient) body.patient = patient;
    const done = await api(answerPath(p, "accept"), { method: "POST", body });
    referralId = done.referral_id;
  });
  if (ok) await app.refresh(["proposals.accepted", { id: referralId }]);
}

async function decline(app, p) {
  const ok = await app.busy(t("proposals.declining"), async () => {
    const { signer, patient } = answerer(app, p);
    const s = await api(signingPath(patient));
    const body = await signDecline(signer, p, "", s, patient);
    await api(answerPath(p, "decline"), { method: "POST", body });
  });
  if (ok) await app.refresh(["proposals.declined", {}]);
}
