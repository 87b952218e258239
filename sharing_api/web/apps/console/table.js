// Table cells and the console's formats, shared by its sections.
export const short = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : "");
export const utc = (ts) =>
  new Date(ts * 1000).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "");

export function cell(row, text, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = text;
  for (const [k, v] of Object.entries(attrs)) td.setAttribute(k, v);
  row.append(td);
  return td;
}

export function fillTable(table, items, render) {
  const body = table.querySelector("tbody");
  body.replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      render(tr, item);
      return tr;
    }),
  );
}
