// Consultations about my records (远程会诊): a member asked another member's specialists to
// read some of my records, on my consent for the purpose consultation. The patient follows
// them here; the chain's steps decide the status, and the consultant reads the named
// records only while the consultation is open and not past its end.
import { apiAll } from "../shared/api.js";
import { h } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { keptAt } from "./pseudonym_view.js";

export async function loadConsultations() {
  return apiAll("/consultations");
}

const OPEN = ["requested", "accepted", "reported"];

export function consultationsSection(app, data) {
  const consultations = data.consultations || [];
  const open = (c) => OPEN.includes(c.status) && !c.expired;
  const sorted = [...consultations].sort(
    (a, b) => open(b) - open(a) || b.consultation_id - a.consultation_id,
  );
  const items = sorted.map((c) => {
    const expired = c.expired && (c.status === "requested" || c.status === "accepted");
    const custodian = keptAt(app, c.patient);
    return h(
      "li",
      { class: "consultation", dataset: { consultationId: c.consultation_id, status: c.status } },
      h("span", { class: "line" }, t("consultations.line", {
        id: c.consultation_id,
        requester: fmt.memberName(app.members, c.requester),
        consultant: fmt.memberName(app.members, c.consultant),
        records: c.record_ids.map((id) => `#${id}`).join(", "),
        status: expired ? t("consult.expired") : t(`consult.${c.status}`),
      }), custodian ? ` · ${t("kept.at", { custodian })}` : ""),
      open(c) ? h("span", { class: "muted small ends" }, " " + t("consultations.ends",
        { date: fmt.day(c.expires_at) })) : null,
      c.report_record_id ? h("span", { class: "muted small report" }, " " +
        t("consultations.report", { id: c.report_record_id })) : null,
    );
  });
  return h(
    "section",
    { id: "consultations", class: "card" },
    h("h2", {}, t("consultations.title")),
    items.length ? h("ul", { class: "list" }, items)
      : h("p", { class: "muted" }, t("consultations.empty")),
    h("p", { class: "muted small" }, t("consultations.note")),
  );
}
