// The "disclosed patient" section: the regulator checks a patient's signed disclosure that
// several pseudonyms are one person (POST /audit/disclosed verifies and logs it) and sees
// their records and accesses across all of them. Nothing else in the console links them.
import { api } from "../shared/api.js";
import { cell, fillTable, short, utc } from "./table.js";

const $ = (id) => document.getElementById(id);

async function check(nameOf) {
  const box = $("disclosed");
  const file = $("disclosure-file").files[0];
  box.dataset.state = "loading";
  $("disclosure-result").textContent = "";
  fillTable($("disclosed-records"), [], () => {});
  fillTable($("disclosed-accesses"), [], () => {});
  try {
    if (!file) throw new Error("choose the patient's disclosure file");
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch {
      throw new Error(`${file.name} is not JSON`);
    }
    const found = await api("/audit/disclosed", { method: "POST", body: doc });
    $("disclosure-result").textContent =
      `Verified: ${found.addresses.length} pseudonyms of one patient ` +
      `(${found.addresses.map(short).join(", ")}); ` +
      `${found.records.length} records, ${found.accesses.length} accesses.`;
    fillTable($("disclosed-records"), found.records, (tr, r) => {
      tr.dataset.recordId = r.record_id;
      cell(tr, `#${r.record_id}`);
      cell(tr, nameOf(r.custodian), { class: "custodian" });
      cell(tr, short(r.patient), { class: "mono", title: r.patient });
      cell(tr, r.category);
      cell(tr, r.erased ? "erased" : "");
    });
    fillTable($("disclosed-accesses"), found.accesses, (tr, a) => {
      tr.dataset.accessId = a.access_id;
      cell(tr, utc(a.timestamp));
      cell(tr, nameOf(a.reader));
      cell(tr, `#${a.record_id}`);
      cell(tr, a.purpose);
      cell(tr, a.basis);
    });
    box.dataset.state = "loaded";
  } catch (err) {
    $("disclosure-result").textContent = `Not accepted: ${err.message}`;
    box.dataset.state = "error";
  }
}

export function wireDisclosure(nameOf) {
  $("disclosure-form").addEventListener("submit", (event) => {
    event.preventDefault();
    check(nameOf);
  });
}
