// The "Supervision" section: the health commission's figures per member and month
// (GET /audit/supervision), each chart with its table beside it, the alerts raised by the
// thresholds the regulator keeps at its gateway (PUT /audit/supervision/thresholds), and the
// figures as CSV. Bars carry data-series, data-day (the month) and data-value; table rows
// carry data-month and data-member, so tests read the same numbers people see.
import { api } from "../shared/api.js";
import { groupedBars } from "./charts.js";
import { label, t } from "./i18n.js";
import { cell, fillTable } from "./table.js";

const $ = (id) => document.getElementById(id);
const BASIS_COLORS = {
  consent: "#4c9a5f", referral: "#3b6ea5", "break-glass": "#d9822b", custodian: "#7c5cbf",
  consultation: "#2b8a99",
};
let last = null; // the figures shown, drawn again on a language switch

export function monthParams() {
  const p = new URLSearchParams();
  if ($("sup-from").value) p.set("from", $("sup-from").value);
  if ($("sup-to").value) p.set("to", $("sup-to").value);
  return p;
}

export function csvName() {
  return last ? `alliance-supervision-${last.from}-${last.to}.csv` : "alliance-supervision.csv";
}

export async function loadSupervision(nameOf) {
  $("sup-error").textContent = "";
  try {
    const from = $("sup-from").value;
    const to = $("sup-to").value;
    if (from && to && from > to) throw new Error(t("sup.error.range"));
    last = await api(`/audit/supervision?${monthParams()}`);
  } catch (err) {
    $("sup-error").textContent = err.message;
    throw err;
  }
  $("sup-from").value = last.from;
  $("sup-to").value = last.to;
  showThresholds(last.thresholds);
  render(nameOf);
}

function showThresholds(th) {
  const put = (id, v) => { $(id).value = v === null || v === undefined ? "" : String(v); };
  put("sup-th-bg", th.break_glass_unjustified_max);
  put("sup-th-median", th.acceptance_median_hours_max);
  put("sup-th-down", th.referral_down_share_min_pct);
}

export async function saveThresholds() {
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  $("sup-error").textContent = "";
  try {
    await api("/audit/supervision/thresholds", {
      method: "PUT",
      body: {
        break_glass_unjustified_max: num("sup-th-bg"),
        acceptance_median_hours_max: num("sup-th-median"),
        referral_down_share_min_pct: num("sup-th-down"),
      },
    });
  } catch (err) {
    $("sup-error").textContent = err.message;
    throw err;
  }
}

// Values of each series per month, from rows [{month, ...}] summed by `value(row)`.
function perMonth(months, rows, value) {
  return months.map((m) => rows.filter((r) => r.month === m).reduce((n, r) => n + value(r), 0));
}

function chart(id, title, series) {
  $(`sup-chart-${id}`).replaceChildren(groupedBars({
    id: `sup-${id}`, title, days: last.months, series, xLabel: monthLabel, empty: t("chart.none"),
  }));
}

// The year on the first month and on each January, the month alone otherwise (room for 12+).
const monthLabel = (m) => (m === last.months[0] || m.endsWith("-01") ? m : m.slice(5));

const tierName = (tier) => label("tier", tier ?? "none");

export function render(nameOf) {
  if (!last) return;
  const f = last;
  const months = f.months;
  const tiers = new Map(f.members.map((m) => [m.address, m.tier]));

  // Alerts.
  $("sup-alert-count").textContent = f.alerts.length
    ? t("sup.alerts.count", { n: f.alerts.length }) : t("sup.alerts.none");
  fillTable($("sup-alerts"), f.alerts, (tr, a) => {
    tr.dataset.rule = a.rule;
    tr.dataset.month = a.month;
    tr.dataset.member = a.member || "";
    cell(tr, a.month);
    cell(tr, a.member ? nameOf(a.member) : t("sup.alliance"), { class: "member" });
    cell(tr, t(`alert.${a.rule}`, { value: a.value, threshold: a.threshold }), { class: "alert" });
  });

  // Referrals up and down; per member beside.
  chart("referrals", t("sup.chart.referrals"), ["up", "down"].map((d, i) => ({
    key: d, name: t(`sup.series.${d}`), color: ["#3b6ea5", "#d9822b"][i],
    values: perMonth(months, f.referral_totals, (r) => r[d]),
  })));
  fillTable($("sup-referrals"), f.referrals, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.member = r.member;
    cell(tr, r.month);
    cell(tr, nameOf(r.member), { class: "member" });
    cell(tr, tierName(tiers.get(r.member)));
    for (const k of ["sent_up", "sent_down", "received_up", "received_down"]) {
      cell(tr, String(r[k]), { class: k.replace("_", "-") });
    }
  });

  // Flows between tiers: one series per (from, to) pair.
  const flowKey = (r) => `${r.from_tier ?? "none"}>${r.to_tier ?? "none"}`;
  const flows = [...new Set(f.tier_flows.map(flowKey))].sort();
  chart("flows", t("sup.chart.flows"), flows.map((key) => {
    const [a, b] = key.split(">");
    return {
      key, name: t("sup.flow", { from: label("tier", a), to: label("tier", b) }),
      values: perMonth(months, f.tier_flows.filter((r) => flowKey(r) === key), (r) => r.up + r.down),
    };
  }));
  fillTable($("sup-flows"), f.tier_flows, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.flow = flowKey(r);
    cell(tr, r.month);
    cell(tr, tierName(r.from_tier));
    cell(tr, tierName(r.to_tier));
    cell(tr, String(r.up), { class: "up" });
    cell(tr, String(r.down), { class: "down" });
  });

  // Hours to acceptance: median and p90, up and down.
  const accSeries = [];
  for (const d of ["up", "down"]) {
    for (const q of ["median", "p90"]) {
      const rows = f.acceptance_by_direction.filter((r) => r.direction === d);
      accSeries.push({
        key: `${d}-${q}`, name: `${t(`direction.${d}`)} · ${t(`sup.series.${q}`)}`,
        values: months.map((m) => rows.find((r) => r.month === m)?.[`${q}_hours`] || 0),
      });
    }
  }
  chart("acceptance", t("sup.chart.acceptance"), accSeries);
  fillTable($("sup-acceptance"), f.acceptance, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.member = r.member;
    cell(tr, r.month);
    cell(tr, nameOf(r.member), { class: "member" });
    cell(tr, String(r.accepted), { class: "accepted" });
    cell(tr, String(r.median_hours), { class: "median" });
    cell(tr, String(r.p90_hours), { class: "p90" });
  });

  // Reads by basis (every basis the API lists) and break-glass reads not justified.
  const bases = f.reads.length ? Object.keys(f.reads[0].by_basis)
    : ["consent", "referral", "break-glass", "custodian"];
  chart("reads", t("sup.chart.reads"), [
    ...bases.map((b) => ({
      key: b, name: label("basis", b), color: BASIS_COLORS[b],
      values: perMonth(months, f.reads, (r) => r.by_basis[b] || 0),
    })),
    {
      key: "unjustified", name: t("sup.series.unjustified"), color: "#b3261e",
      values: perMonth(months, f.reads, (r) => r.break_glass_unjustified),
    },
  ]);
  const head = $("sup-reads-head");
  head.replaceChildren();
  for (const text of [t("col.month"), t("col.member"), ...bases.map((b) => label("basis", b)),
    t("col.total"), t("col.unjustified")]) {
    const th = document.createElement("th");
    th.textContent = text;
    head.append(th);
  }
  fillTable($("sup-reads"), f.reads, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.member = r.member;
    cell(tr, r.month);
    cell(tr, nameOf(r.member), { class: "member" });
    for (const b of bases) cell(tr, String(r.by_basis[b] || 0), { "data-basis": b });
    cell(tr, String(r.total), { class: "total" });
    cell(tr, String(r.break_glass_unjustified), { class: "unjustified" });
  });

  // Records published per custodian.
  const custodians = [...new Set(f.records.map((r) => r.member))];
  chart("records", t("sup.chart.records"), custodians.map((c) => ({
    key: c, name: nameOf(c),
    values: perMonth(months, f.records.filter((r) => r.member === c), (r) => r.records),
  })));
  fillTable($("sup-records"), f.records, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.member = r.member;
    cell(tr, r.month);
    cell(tr, nameOf(r.member), { class: "member" });
    cell(tr, String(r.records), { class: "records" });
  });

  // Consultations requested and answered per month (by the month of the request), and per
  // member with the hours from request to report.
  const consult = f.consultations.rows;
  chart("consultations", t("sup.chart.consultations"), ["requested", "answered"].map((k, i) => ({
    key: k, name: t(`sup.series.${k}`), color: ["#2b8a99", "#4c9a5f"][i],
    values: perMonth(months, consult, (r) => (k === "requested" ? r.requested : r.answered)),
  })));
  fillTable($("sup-consultation-rows"), consult, (tr, r) => {
    tr.dataset.month = r.month;
    tr.dataset.member = r.member;
    cell(tr, r.month);
    cell(tr, nameOf(r.member), { class: "member" });
    for (const k of ["requested", "received", "answered"]) cell(tr, String(r[k]), { class: k });
    const h = (v) => (v === null ? t("dash") : String(v));
    cell(tr, h(r.median_hours_to_report), { class: "median" });
    cell(tr, h(r.p90_hours_to_report), { class: "p90" });
  });
}
