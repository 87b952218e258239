// The "disclosed patient" section: the regulator checks a patient's signed disclosure that
// several pseudonyms are one person (POST /audit/disclosed verifies and logs it) and sees
// their records and accesses across all of them. Nothing else in the console links them.
import { api } from "../shared/api.js";
import { label, t } from "./i18n.js";
import { cell, fillTable, short, utc } from "./table.js";

const $ = (id) => document.getElementById(id);
let shown = null; // { found } or { error }: drawn again on a language switch
const PAGE = 1000;
const MAX_PAGES = 100; // 100,000 records and accesses: enough for a screen
const ENDED = "9223372036854775807"; // a list that ended: nothing after this id

// Every page of the gateway's answer (each a logged use of the same disclosure).
async function disclosed(doc) {
  let found = null;
  let afterRecord = null;
  let afterAccess = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (afterRecord !== null) query.set("after_record", afterRecord);
    if (afterAccess !== null) query.set("after_access", afterAccess);
    const got = await api(`/audit/disclosed?${query}`, { method: "POST", body: doc });
    if (found === null) found = { addresses: got.addresses, records: [], accesses: [] };
    found.records.push(...got.records);
    found.accesses.push(...got.accesses);
    if (got.next_record_after == null && got.next_access_after == null) break;
    afterRecord = got.next_record_after == null ? ENDED : String(got.next_record_after);
    afterAccess = got.next_access_after == null ? ENDED : String(got.next_access_after);
  }
  return found;
}

function draw(nameOf) {
  if (!shown) return;
  if (shown.error) {
    $("disclosure-result").textContent = t("disclosed.refused", { error: shown.error });
    return;
  }
  const found = shown.found;
  $("disclosure-result").textContent = t("disclosed.verified", {
    n: found.addresses.length,
    addresses: found.addresses.map(short).join(", "),
    records: found.records.length,
    accesses: found.accesses.length,
  });
  fillTable($("disclosed-records"), found.records, (tr, r) => {
    tr.dataset.recordId = r.record_id;
    cell(tr, `#${r.record_id}`);
    cell(tr, nameOf(r.custodian), { class: "custodian" });
    cell(tr, short(r.patient), { class: "mono", title: r.patient });
    cell(tr, r.category);
    cell(tr, r.erased ? t("disclosed.erased") : "");
  });
  fillTable($("disclosed-accesses"), found.accesses, (tr, a) => {
    tr.dataset.accessId = a.access_id;
    cell(tr, utc(a.timestamp));
    cell(tr, nameOf(a.reader));
    cell(tr, `#${a.record_id}`);
    cell(tr, label("purpose", a.purpose));
    cell(tr, label("basis", a.basis));
  });
}

async function check(nameOf) {
  const box = $("disclosed");
  const file = $("disclosure-file").files[0];
  box.dataset.state = "loading";
  shown = null;
  $("disclosure-result").textContent = "";
  fillTable($("disclosed-records"), [], () => {});
  fillTable($("disclosed-accesses"), [], () => {});
  try {
    if (!file) throw new Error(t("disclosed.no-file"));
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch {
      throw new Error(t("disclosed.not-json", { name: file.name }));
    }
    shown = { found: await disclosed(doc) };
    draw(nameOf);
    box.dataset.state = "loaded";
  } catch (err) {
    shown = { error: err.message };
    draw(nameOf);
    box.dataset.state = "error";
  }
}

export function redrawDisclosure(nameOf) {
  draw(nameOf);
}

export function wireDisclosure(nameOf) {
  $("disclosure-form").addEventListener("submit", (event) => {
    event.preventDefault();
    check(nameOf);
  });
}
