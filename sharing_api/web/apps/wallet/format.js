// Dates, names and scopes in the words of the current language.
import { joinList, lang, t } from "./i18n.js";
import { short } from "./dom.js";

export function day(unixSeconds) {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

export function moment(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${day(unixSeconds)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

// The last day a consent still holds (valid_until is exclusive: the next midnight UTC).
export function lastDay(validUntil) {
  return day(validUntil - 1);
}

export function memberName(members, address) {
  const found = members.find((m) => m.address === (address || "").toLowerCase());
  return found?.name || short(address);
}

export function categories(labels) {
  return joinList(labels.map((c) => t(`cat.${c}`)));
}

export function purposes(labels) {
  return joinList(labels.map((p) => t(`purpose.${p}`)));
}

export function grantee(members, consent) {
  if (/^0x0+$/.test(consent.grantee)) {
    const role = consent.grantee_role === 2 ? "clinic" : "hospital";
    return t(`role.${role}`);
  }
  return memberName(members, consent.grantee);
}

export function basis(access) {
  if (access.basis === "break-glass") {
    return `${t("basis.break-glass")} (${t(`review.${reviewState(access)}`)})`;
  }
  return t(`basis.${access.basis}`, { id: access.basis_id });
}

// Where a break-glass read stands: open (waiting for justification), justified, accepted
// or flagged (the regulator's ruling).
export function reviewState(access) {
  return access.review || (access.justified ? "justified" : "open");
}

export function isChinese() {
  return lang() === "zh-CN";
}
