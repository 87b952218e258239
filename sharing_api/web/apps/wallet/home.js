// The signed-in screen's lists: my records with who read them, my active consents (revoke),
// my pending referrals. Data comes from the API's index of the chain.
import { api } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { signRevoke } from "./typed.js";

// Everything the lists need, fetched together.
export async function loadHome() {
  const [records, accesses, consents, referrals] = await Promise.all([
    api("/patients/me/records"),
    api("/patients/me/accesses"),
    api("/consents"),
    api("/referrals"),
  ]);
  return { records, accesses, consents, referrals };
}

export function recordsSection(app, data) {
  const items = data.records.map((record) => {
    const reads = data.accesses.filter((a) => a.record_id === record.record_id);
    return h(
      "li",
      { class: "record", dataset: { recordId: record.record_id } },
      h(
        "div",
        { class: "what" },
        t("records.line", {
          category: t(`cat.${record.category}`),
          custodian: record.custodian_name || fmt.memberName(app.members, record.custodian),
          date: fmt.day(record.timestamp),
        }),
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
  return h(
    "li",
    {
      class: `access basis-${access.basis}`,
      dataset: { accessId: access.access_id, basis: access.basis, reader: access.reader },
    },
    t("access.line", {
      reader: access.reader_name || fmt.memberName(app.members, access.reader),
      time: fmt.moment(access.timestamp),
      basis: fmt.basis(access),
      purpose: t(`purpose.${access.purpose}`),
    }),
  );
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
      ),
      h(
        "button",
        { class: "revoke danger", type: "button", onclick: () => revoke(app, c.consent_id) },
        t("consents.revoke"),
      ),
    ),
  );
  return h(
    "section",
    { id: "consents", class: "card" },
    h("h2", {}, t("consents.title")),
    items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, t("consents.empty")),
  );
}

async function revoke(app, consentId) {
  const done = await app.busy(t("consents.revoking"), async () => {
    const domain = await api(`/consents/domain?patient=${app.address}`);
    const deadline = Math.floor(Date.now() / 1000) + 600;
    const body = await signRevoke(
      app.wallet,
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

export function referralsSection(app, data) {
  const pending = data.referrals.filter((r) => r.status === "created" || r.status === "accepted");
  const items = pending.map((r) =>
    h(
      "li",
      { class: "referral", dataset: { referralId: r.referral_id, status: r.status } },
      t("referrals.line", {
        referrer: fmt.memberName(app.members, r.referrer),
        receiver: fmt.memberName(app.members, r.receiver),
        direction: t(`direction.${r.direction}`),
        records: r.record_ids.map((id) => `#${id}`).join(", "),
        status: t(`status.${r.status}`),
      }),
    ),
  );
  return h(
    "section",
    { id: "referrals", class: "card" },
    h("h2", {}, t("referrals.title")),
    items.length ? h("ul", { class: "list" }, items) : h("p", { class: "muted" }, t("referrals.empty")),
    h("p", { class: "muted small" }, t("referrals.note")),
  );
}
