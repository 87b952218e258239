// Regulator console: sign in with the regulator's key (kept in memory only), then read-only
// views over the sharing API's /audit routes: chain status and verification, the access
// timeline with filters, four charts, the supervision dashboard, the anomaly list, the
// break-glass queue and exports; in English or Chinese (i18n.js), switched by a button and
// remembered in localStorage.
// Each section marks data-state="loading" | "loaded" | "error" and counts finished loads in
// data-gen, so tests can wait for the load an action started.
import { Wallet } from "ethers";
import { api, apiAll, setToken, token } from "../shared/api.js";
import { signIn } from "../shared/siwe.js";
import { groupedBars, pivot } from "./charts.js";
import { redrawDisclosure, wireDisclosure } from "./disclosure.js";
import { applyStatic, initialLang, label, lang, setLang, t } from "./i18n.js";
import { csvName, loadSupervision, monthParams, render as drawSupervision, saveThresholds }
  from "./supervision.js";
import { cell, fillTable, short, utc } from "./table.js";

const $ = (id) => document.getElementById(id);
const PURPOSES = ["treatment", "referral", "consultation", "research", "emergency"];
const BASES = ["consent", "referral", "break-glass", "custodian", "consultation"];
const members = new Map(); // lowercase address -> member
let signedIn = null; // the regulator's address once signed in
let lastVerification = null;

const nameOf = (a) => members.get(String(a).toLowerCase())?.name || short(a);

// Run a section's loader with data-state around it; show errors in the section.
async function section(el, load) {
  el.dataset.state = "loading";
  try {
    await load();
    el.dataset.state = "loaded";
  } catch (err) {
    el.dataset.state = "error";
    el.dataset.error = err.message;
    console.error(err);
  }
  el.dataset.gen = String(Number(el.dataset.gen || 0) + 1); // one more load finished
}

function dayStart(value) {
  return Math.floor(Date.parse(`${value}T00:00:00Z`) / 1000);
}

// The timeline's filters as query parameters (also used by the charts and exports).
function filterParams() {
  const p = new URLSearchParams();
  const put = (k, v) => v && p.set(k, v);
  put("member", $("f-member").value);
  put("patient", $("f-patient").value.trim().toLowerCase());
  put("purpose", $("f-purpose").value);
  put("basis", $("f-basis").value);
  if ($("f-from").value) p.set("since", String(dayStart($("f-from").value)));
  if ($("f-to").value) p.set("until", String(dayStart($("f-to").value) + 86400));
  return p;
}

function thresholdParams() {
  return new URLSearchParams({
    justify_within: $("t-within").value || "86400",
    max_per_day: $("t-per-day").value || "50",
    source: $("t-source").value || "index",
  });
}

function showVerification(v) {
  const box = $("verification");
  if (!v) return;
  lastVerification = v;
  box.dataset.state = v.ok ? "ok" : "failed";
  const chain = v.chain.checked
    ? t("verify.chain", {
      blocks: v.chain.blocks, result: t(v.chain.ok ? "verify.chain.ok" : "verify.chain.failed"),
    })
    : v.chain.note; // the API's own words
  const blobs = t(v.blobs.erased ? "verify.blobs.erased" : "verify.blobs", v.blobs);
  box.replaceChildren();
  const head = document.createElement("strong");
  head.id = "verification-result";
  head.textContent = t(v.ok ? "verify.ok" : "verify.failed");
  const line = (text) => {
    const p = document.createElement("div");
    p.textContent = text;
    box.append(p);
  };
  box.append(head);
  line(t("verify.at", { time: utc(v.ran_at), seconds: v.seconds }));
  line(chain);
  line(blobs);
  for (const e of v.errors) line(t("verify.error", { error: e }));
}

async function loadStatus() {
  const s = await api("/audit/status");
  $("head-number").textContent = String(s.head.number);
  $("head-hash").textContent = s.head.hash;
  $("head-time").textContent = utc(s.head.timestamp);
  $("indexed").textContent = t("status.indexed.value", { n: s.indexed_block });
  // The pseudonym migration's progress: one address with records at several members.
  $("shared-addresses").textContent = s.records_under_shared_addresses
    ? t("status.shared.value", {
      records: s.records_under_shared_addresses, patients: s.shared_addresses,
    })
    : t("none");
  $("shared-addresses").dataset.records = String(s.records_under_shared_addresses);
  members.clear();
  for (const m of s.members) members.set(m.address, m);
  fillTable($("members"), s.members, (tr, m) => {
    tr.dataset.address = m.address;
    cell(tr, m.name, { class: "member-name" });
    cell(tr, m.roles.map((r) => label("role", r)).join(", "));
    cell(tr, m.tier === null ? t("dash") : `${m.tier} · ${label("tier", TIERS[m.tier])}`);
    cell(tr, m.address, { class: "mono" });
  });
  const select = $("f-member");
  const chosen = select.value;
  select.replaceChildren(new Option(t("any"), ""));
  for (const m of s.members) {
    if (m.roles.includes("regulator") && m.tier === null) continue;
    select.append(new Option(m.name, m.address));
  }
  select.value = chosen;
  showVerification(s.verification);
}

async function loadTimeline() {
  // Pages run from the newest back, each in chain order: put them all in chain order.
  const rows = await apiAll(`/audit/timeline?${filterParams()}`);
  rows.sort((a, b) => a.access_id - b.access_id);
  $("timeline-count").textContent = t("timeline.count", { n: rows.length });
  fillTable($("timeline"), rows.slice().reverse(), (tr, a) => {
    tr.dataset.accessId = a.access_id;
    tr.dataset.reader = a.reader;
    tr.className = a.basis;
    cell(tr, utc(a.timestamp));
    cell(tr, nameOf(a.reader), { class: "reader" });
    // The person who read, as a pseudonym only the reader's gateway can open (audited).
    cell(tr, /^0x0+$/.test(a.staff) ? "" : short(a.staff), { class: "staff", title: a.staff });
    cell(tr, short(a.patient), { title: a.patient });
    cell(tr, `#${a.record_id} ${a.category || ""}`);
    cell(tr, label("purpose", a.purpose), { class: "purpose" });
    cell(tr, `${label("basis", a.basis)} ${a.basis_id}`, { class: "basis" });
    cell(tr, a.basis === "break-glass" ? t(a.justified ? "yes" : "no") : "");
    cell(tr, String(a.block_number), { title: a.tx_hash });
  });
}

async function loadCharts() {
  const c = await api(`/audit/charts?${filterParams()}`);
  // Accesses per member per day: one series per member.
  const days = [...new Set(c.accesses_per_member.map((r) => r.day))].sort();
  const readers = [...new Set(c.accesses_per_member.map((r) => r.member))];
  const series = readers.map((m) => ({
    key: m,
    name: nameOf(m),
    values: days.map((d) => c.accesses_per_member.find((r) => r.member === m && r.day === d)?.count || 0),
  }));
  $("chart-accesses").replaceChildren(
    groupedBars({ id: "accesses", title: t("chart.accesses"), days, series, empty: t("chart.none") }),
  );
  $("chart-consents").replaceChildren(
    groupedBars({
      id: "consents",
      title: t("chart.consents"),
      empty: t("chart.none"),
      ...pivot(c.consents, [
        { key: "granted", name: t("series.granted"), color: "#4c9a5f" },
        { key: "revoked", name: t("series.revoked"), color: "#b3261e" },
      ]),
    }),
  );
  $("chart-referrals").replaceChildren(
    groupedBars({
      id: "referrals",
      title: t("chart.referrals"),
      empty: t("chart.none"),
      ...pivot(c.referrals, [
        { key: "up", name: t("series.up"), color: "#3b6ea5" },
        { key: "down", name: t("series.down"), color: "#d9822b" },
      ]),
    }),
  );
  $("chart-break-glass").replaceChildren(
    groupedBars({
      id: "break-glass",
      title: t("chart.break-glass"),
      empty: t("chart.none"),
      ...pivot(c.break_glass, [
        { key: "count", name: t("series.break-glass"), color: "#d9822b" },
        { key: "unjustified", name: t("series.unjustified"), color: "#b3261e" },
      ]),
    }),
  );
  const warn = $("mismatches");
  warn.hidden = c.direction_mismatches.length === 0;
  warn.textContent = t("mismatches", { ids: c.direction_mismatches.join(", ") });
}

async function loadAnomalies() {
  const found = await api(`/audit/anomalies?${thresholdParams()}`);
  $("anomaly-count").textContent = t("anomalies.count", { n: found.length });
  fillTable($("anomaly-list"), found, (tr, a) => {
    tr.dataset.rule = a.rule;
    if (a.access_id !== null) tr.dataset.accessId = a.access_id;
    cell(tr, label("rule", a.rule), { class: "rule", title: a.rule });
    cell(tr, a.access_id === null ? t("dash") : String(a.access_id));
    cell(tr, nameOf(a.reader), { class: "reader" });
    cell(tr, a.detail);
  });
}

// The review queue: every break-glass read with where it stands (open, justified, accepted,
// flagged), the reason and justification opened with the regulator's audit key, and the
// regulator's close (accept a justified read, or flag one).
async function loadBreakGlass() {
  const queue = await apiAll("/audit/break-glass?include_justified=true");
  const reviews = await Promise.all(
    queue.map((a) => api(`/audit/break-glass/${a.access_id}/review`).catch(() => null)),
  );
  const now = Date.now() / 1000;
  const open = queue.filter((a) => a.review === "open").length;
  const justified = queue.filter((a) => a.review === "justified").length;
  $("bg-count").textContent = t("bg.count", {
    open, justified, closed: queue.length - open - justified,
  });
  fillTable($("bg-queue"), queue, (tr, a) => {
    const opened = reviews[queue.indexOf(a)];
    tr.dataset.accessId = a.access_id;
    tr.dataset.review = a.review;
    cell(tr, String(a.access_id));
    cell(tr, utc(a.timestamp));
    cell(tr, nameOf(a.reader), { class: "reader" });
    cell(tr, short(a.patient), { title: a.patient });
    cell(tr, `#${a.record_id}`);
    cell(tr, t("bg.minutes", { n: Math.max(0, Math.round((now - a.timestamp) / 60)) }));
    cell(tr, label("review", a.review), { class: "review" });
    cell(tr, sealedText(opened?.reason), { class: "reason" });
    cell(tr, sealedText(opened?.justification), { class: "justification" });
    const actions = cell(tr, "", { class: "actions" });
    if (a.review === "open" || a.review === "justified") {
      if (a.review === "justified") actions.append(closeButton(a.access_id, true));
      actions.append(closeButton(a.access_id, false));
    }
  });
}

const TIERS = { 1: "township", 2: "county", 3: "tertiary" };

function sealedText(opened) {
  if (!opened) return t("dash");
  return opened.matches_chain ? opened.text : t("bg.mismatch", { text: opened.text });
}

function closeButton(accessId, accepted) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = accepted ? "accept" : "flag";
  button.textContent = t(accepted ? "bg.accept" : "bg.flag");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(`/audit/break-glass/${accessId}/close`, {
        method: "POST",
        body: { accepted },
      });
    } catch (err) {
      $("bg-count").textContent = err.message;
    }
    await section($("break-glass"), loadBreakGlass);
  });
  return button;
}

async function refreshFiltered() {
  await Promise.all([
    section($("timeline-section"), loadTimeline),
    section($("charts"), loadCharts),
  ]);
}

async function refreshSupervision() {
  await section($("supervision"), () => loadSupervision(nameOf));
}

async function refreshAll() {
  await section($("status"), loadStatus);
  await Promise.all([
    refreshFiltered(),
    refreshSupervision(),
    section($("anomalies"), loadAnomalies),
    section($("break-glass"), loadBreakGlass),
  ]);
}

async function download(path, filename) {
  const response = await api(path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

function exporter(button, path, filename) {
  $(button).addEventListener("click", async () => {
    $("export-error").textContent = "";
    try {
      await download(path(), filename);
    } catch (err) {
      $("export-error").textContent = err.message;
    }
  });
}

function showConsole(who) {
  signedIn = who;
  $("signin").hidden = true;
  $("console").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = t("who", { who });
}

// The fixed texts now, the views drawn from data by loading them again (their numbers
// are the same; only the words change).
function applyLang() {
  applyStatic();
  $("lang-toggle").textContent = t("lang.toggle");
  const purpose = $("f-purpose").value;
  const basis = $("f-basis").value;
  $("f-purpose").replaceChildren(new Option(t("any"), ""));
  $("f-basis").replaceChildren(new Option(t("any"), ""));
  for (const p of PURPOSES) $("f-purpose").append(new Option(label("purpose", p), p));
  for (const b of BASES) $("f-basis").append(new Option(label("basis", b), b));
  $("f-purpose").value = purpose;
  $("f-basis").value = basis;
  if (signedIn) $("who").textContent = t("who", { who: signedIn });
  showVerification(lastVerification);
  drawSupervision(nameOf);
  redrawDisclosure(nameOf);
}

async function importWallet() {
  const file = $("keystore").files[0];
  if (file) return Wallet.fromEncryptedJson(await file.text(), $("keystore-pass").value);
  const key = $("key").value.trim();
  if (!key) throw new Error(t("error.no-key"));
  return new Wallet(key.startsWith("0x") ? key : `0x${key}`);
}

function wire() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    $("signin-btn").disabled = true;
    try {
      let wallet = await importWallet();
      const session = await signIn(wallet, t("signin.statement"));
      wallet = null; // the key is not kept once the token is issued
      $("key").value = "";
      $("keystore-pass").value = "";
      if (session.kind !== "regulator") {
        setToken(null);
        throw new Error(t("error.not-regulator", { kind: label("kind", session.kind) }));
      }
      showConsole(session.subject);
      await refreshAll();
    } catch (err) {
      $("signin-error").textContent = err.message;
    } finally {
      $("signin-btn").disabled = false;
    }
  });
  $("signout").addEventListener("click", () => {
    setToken(null);
    window.location.reload();
  });
  $("verify-btn").addEventListener("click", async () => {
    $("verify-btn").disabled = true;
    $("verification").dataset.state = "running";
    $("verification").textContent = t("verify.running");
    try {
      showVerification(await api("/audit/verification?run=true"));
    } catch (err) {
      $("verification").dataset.state = "failed";
      $("verification").textContent = t("verify.could-not", { error: err.message });
    } finally {
      $("verify-btn").disabled = false;
    }
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refreshFiltered();
  });
  $("filters").addEventListener("reset", () => setTimeout(refreshFiltered, 0));
  $("thresholds").addEventListener("submit", (event) => {
    event.preventDefault();
    section($("anomalies"), loadAnomalies);
  });
  $("sup-range").addEventListener("submit", (event) => {
    event.preventDefault();
    refreshSupervision();
  });
  $("sup-thresholds").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await saveThresholds();
    } catch {
      return; // shown in the section
    }
    await refreshSupervision();
  });
  $("sup-export").addEventListener("click", async () => {
    $("sup-error").textContent = "";
    try {
      await download(`/audit/supervision.csv?${monthParams()}`, csvName());
    } catch (err) {
      $("sup-error").textContent = err.message;
    }
  });
  $("lang-toggle").addEventListener("click", async () => {
    setLang(lang() === "en" ? "zh-CN" : "en");
    applyLang();
    if (signedIn) await refreshAll();
  });
  exporter("export-csv", () => `/audit/timeline.csv?${filterParams()}`, "alliance-accesses.csv");
  exporter("export-report", () => `/audit/report?${filterParams()}&${thresholdParams()}`,
    "alliance-audit-report.html");
  exporter("export-fhir", () => `/audit/timeline.fhir?${filterParams()}`,
    "alliance-auditevents.json");
  wireDisclosure(nameOf);
  setLang(initialLang());
  applyLang();
}

async function resume() {
  // A token from earlier in this tab (sessionStorage): use it if it is still a regulator's.
  if (!token()) return;
  try {
    const me = await api("/auth/me");
    if (me.kind !== "regulator") return setToken(null);
    showConsole(me.subject);
    await refreshAll();
  } catch {
    setToken(null);
  }
}

wire();
resume().finally(() => {
  $("app").dataset.ready = "true";
});
