// Regulator console: sign in with the regulator's key (kept in memory only), then read-only
// views over the sharing API's /audit routes: chain status and verification, the access
// timeline with filters, four charts, the anomaly list, the break-glass queue and exports.
// Each section marks data-state="loading" | "loaded" | "error" and counts finished loads in
// data-gen, so tests can wait for the load an action started.
import { Wallet } from "ethers";
import { api, apiAll, setToken, token } from "../shared/api.js";
import { signIn } from "../shared/siwe.js";
import { groupedBars, pivot } from "./charts.js";
import { wireDisclosure } from "./disclosure.js";
import { cell, fillTable, short, utc } from "./table.js";

const $ = (id) => document.getElementById(id);
const PURPOSES = ["treatment", "referral", "consultation", "research", "emergency"];
const BASES = ["consent", "referral", "break-glass", "custodian"];
const members = new Map(); // lowercase address -> member

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
  box.dataset.state = v.ok ? "ok" : "failed";
  const chain = v.chain.checked
    ? `${v.chain.blocks} blocks: hash links and seals ${v.chain.ok ? "ok" : "FAILED"}`
    : v.chain.note;
  const blobs = `${v.blobs.ok}/${v.blobs.checked} blobs match their on-chain SHA-256 ` +
    `(of ${v.blobs.total} records` +
    (v.blobs.erased ? `, ${v.blobs.erased} erased at the patient's request)` : ")");
  box.replaceChildren();
  const head = document.createElement("strong");
  head.id = "verification-result";
  head.textContent = v.ok ? "Verified OK" : "Verification FAILED";
  const line = (text) => {
    const p = document.createElement("div");
    p.textContent = text;
    box.append(p);
  };
  box.append(head);
  line(`at ${utc(v.ran_at)} UTC, ${v.seconds} s`);
  line(chain);
  line(blobs);
  for (const e of v.errors) line(`error: ${e}`);
}

async function loadStatus() {
  const s = await api("/audit/status");
  $("head-number").textContent = String(s.head.number);
  $("head-hash").textContent = s.head.hash;
  $("head-time").textContent = utc(s.head.timestamp);
  $("indexed").textContent = `block ${s.indexed_block}`;
  // The pseudonym migration's progress: one address with records at several members.
  $("shared-addresses").textContent = s.records_under_shared_addresses
    ? `${s.records_under_shared_addresses} records of ${s.shared_addresses} patients (pre-pseudonym)`
    : "none";
  $("shared-addresses").dataset.records = String(s.records_under_shared_addresses);
  members.clear();
  for (const m of s.members) members.set(m.address, m);
  fillTable($("members"), s.members, (tr, m) => {
    tr.dataset.address = m.address;
    cell(tr, m.name, { class: "member-name" });
    cell(tr, m.roles.join(", "));
    cell(tr, m.tier === null ? "–" : String(m.tier));
    cell(tr, m.address, { class: "mono" });
  });
  const select = $("f-member");
  const chosen = select.value;
  select.replaceChildren(new Option("any", ""));
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
  $("timeline-count").textContent = `${rows.length} accesses`;
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
    cell(tr, a.purpose, { class: "purpose" });
    cell(tr, `${a.basis} ${a.basis_id}`, { class: "basis" });
    cell(tr, a.basis === "break-glass" ? (a.justified ? "yes" : "no") : "");
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
    groupedBars({ id: "accesses", title: "Accesses per member per day", days, series }),
  );
  $("chart-consents").replaceChildren(
    groupedBars({
      id: "consents",
      title: "Consents granted and revoked per day",
      ...pivot(c.consents, [
        { key: "granted", name: "granted", color: "#4c9a5f" },
        { key: "revoked", name: "revoked", color: "#b3261e" },
      ]),
    }),
  );
  $("chart-referrals").replaceChildren(
    groupedBars({
      id: "referrals",
      title: "Referrals up and down per day",
      ...pivot(c.referrals, [
        { key: "up", name: "up (to a higher tier)", color: "#3b6ea5" },
        { key: "down", name: "down (back to a lower tier)", color: "#d9822b" },
      ]),
    }),
  );
  $("chart-break-glass").replaceChildren(
    groupedBars({
      id: "break-glass",
      title: "Break-glass accesses per day",
      ...pivot(c.break_glass, [
        { key: "count", name: "break-glass", color: "#d9822b" },
        { key: "unjustified", name: "still unjustified", color: "#b3261e" },
      ]),
    }),
  );
  const warn = $("mismatches");
  warn.hidden = c.direction_mismatches.length === 0;
  warn.textContent = `Referrals whose declared direction contradicts the members' tiers: ${c.direction_mismatches.join(", ")}`;
}

async function loadAnomalies() {
  const found = await api(`/audit/anomalies?${thresholdParams()}`);
  $("anomaly-count").textContent = `${found.length} anomalies`;
  fillTable($("anomaly-list"), found, (tr, a) => {
    tr.dataset.rule = a.rule;
    if (a.access_id !== null) tr.dataset.accessId = a.access_id;
    cell(tr, a.rule, { class: "rule" });
    cell(tr, a.access_id === null ? "–" : String(a.access_id));
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
  $("bg-count").textContent =
    `${open} waiting for justification, ${justified} justified and waiting for you, ` +
    `${queue.length - open - justified} closed`;
  fillTable($("bg-queue"), queue, (tr, a) => {
    const opened = reviews[queue.indexOf(a)];
    tr.dataset.accessId = a.access_id;
    tr.dataset.review = a.review;
    cell(tr, String(a.access_id));
    cell(tr, utc(a.timestamp));
    cell(tr, nameOf(a.reader), { class: "reader" });
    cell(tr, short(a.patient), { title: a.patient });
    cell(tr, `#${a.record_id}`);
    cell(tr, `${Math.max(0, Math.round((now - a.timestamp) / 60))} min`);
    cell(tr, REVIEW_LABELS[a.review] || a.review, { class: "review" });
    cell(tr, sealedText(opened?.reason), { class: "reason" });
    cell(tr, sealedText(opened?.justification), { class: "justification" });
    const actions = cell(tr, "", { class: "actions" });
    if (a.review === "open" || a.review === "justified") {
      if (a.review === "justified") actions.append(closeButton(a.access_id, true));
      actions.append(closeButton(a.access_id, false));
    }
  });
}

const REVIEW_LABELS = {
  open: "waiting for justification",
  justified: "justified",
  accepted: "accepted",
  flagged: "flagged",
};

function sealedText(opened) {
  if (!opened) return "–";
  return opened.matches_chain ? opened.text : `${opened.text} (does not match the chain!)`;
}

function closeButton(accessId, accepted) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = accepted ? "accept" : "flag";
  button.textContent = accepted ? "Accept" : "Flag";
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

async function refreshAll() {
  await section($("status"), loadStatus);
  await Promise.all([
    refreshFiltered(),
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
  $("signin").hidden = true;
  $("console").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = `signed in as ${who}`;
}

async function importWallet() {
  const file = $("keystore").files[0];
  if (file) return Wallet.fromEncryptedJson(await file.text(), $("keystore-pass").value);
  const key = $("key").value.trim();
  if (!key) throw new Error("paste the regulator's private key or choose a keystore file");
  return new Wallet(key.startsWith("0x") ? key : `0x${key}`);
}

function wire() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    $("signin-btn").disabled = true;
    try {
      let wallet = await importWallet();
      const session = await signIn(wallet, "Sign in to the AllianceLedger regulator console.");
      wallet = null; // the key is not kept once the token is issued
      $("key").value = "";
      $("keystore-pass").value = "";
      if (session.kind !== "regulator") {
        setToken(null);
        throw new Error(`this key signs in as a ${session.kind}, not the regulator`);
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
    $("verification").textContent = "Verifying…";
    try {
      showVerification(await api("/audit/verification?run=true"));
    } catch (err) {
      $("verification").dataset.state = "failed";
      $("verification").textContent = `Verification could not run: ${err.message}`;
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
  exporter("export-csv", () => `/audit/timeline.csv?${filterParams()}`, "alliance-accesses.csv");
  exporter("export-report", () => `/audit/report?${filterParams()}&${thresholdParams()}`,
    "alliance-audit-report.html");
  exporter("export-fhir", () => `/audit/timeline.fhir?${filterParams()}`,
    "alliance-auditevents.json");
  wireDisclosure(nameOf);
  for (const p of PURPOSES) $("f-purpose").append(new Option(p, p));
  for (const b of BASES) $("f-basis").append(new Option(b, b));
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
