// Security labels (HL7 DS4P) of the patient's records, in plain words: the record's
// confidentiality (N normal, R restricted, V very restricted) and sensitivity codes (mental
// health, HIV, ...), as crypto/labels.py defines them. The gateway lists them for records
// whose sealed header it received (confidentiality null: not known there). No DOM here.
import { joinList, t } from "./i18n.js";

const RANK = { N: 0, R: 1, V: 2 };
// crypto/labels.py SENSITIVITY, in its order (tests/web/test_wallet_labels.py checks).
export const SENSITIVITY = ["PSY", "HIV", "STD", "ETH", "SDV", "SEX", "GDIS"];

export function isSensitive(record) {
  return (RANK[record.confidentiality] ?? 0) >= RANK.R || (record.sensitivity || []).length > 0;
}

// The records a consent on `terms` would cover that carry a sensitive label: the signing
// pseudonym's records, in the chosen categories, not erased.
export function sensitiveCovered(records, terms) {
  const patient = terms.patient.toLowerCase();
  return records.filter(
    (r) =>
      !r.erased &&
      r.patient.toLowerCase() === patient &&
      terms.categories.includes(r.category) &&
      isSensitive(r),
  );
}

function strictest(records) {
  return records.reduce((best, r) => ((RANK[r.confidentiality] ?? 0) > RANK[best] ? r.confidentiality : best), "N");
}

function topics(records) {
  const codes = new Set(records.flatMap((r) => r.sensitivity || []));
  return joinList(SENSITIVITY.filter((c) => codes.has(c)).map((c) => t(`sens.${c}`)));
}

// "This consent covers records marked very restricted: mental health and HIV/AIDS."
export function describeSensitive(records) {
  const level = strictest(records);
  const what = topics(records);
  const marked = level === "N" ? t("conf.sensitive") : t(`conf.${level}`);
  return t(what ? "grant.sensitive" : "grant.sensitive.level", { level: marked, topics: what });
}

// A record's labels for its line in "My records" ("" when normal or not known here).
export function recordLabels(record) {
  if (!isSensitive(record)) return "";
  const parts = record.confidentiality && record.confidentiality !== "N" ? [t(`conf.${record.confidentiality}`)] : [];
  const what = topics([record]);
  return [...parts, ...(what ? [what] : [])].join(" · ");
}
