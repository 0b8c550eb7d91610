// The data store: the user's collections and their records, where scenarios put what they
// import.

import { h, mount, json, busy, confirmDialog } from "../dom.js";
import { get, del, seg } from "../api.js";

export async function render(main, ctx, collection) {
  const { collections } = await get("/api/store?limit=1000");
  const tabs = h("nav", { class: "tabs", "aria-label": "Collections" }, collections.map((c) =>
    h("a", { href: `#/store/${seg(c.name)}`, "aria-current": c.name === collection ? "page" : null }, `${c.name} (${c.count ?? c.records ?? "?"})`)));
  if (!collection) {
    mount(main, h("h1", {}, "Data store"), collections.length ? tabs : h("p", { class: "muted" }, "Nothing stored yet: scenarios with a data store node put their records here."));
    return;
  }
  let cursor = ctx.query.get("cursor");
  const page = await get(`/api/store/${seg(collection)}?limit=50${cursor ? `&cursor=${seg(cursor)}` : ""}`);
  const records = page.records || [];
  mount(main, h("h1", {}, "Data store"), tabs,
    h("section", { class: "panel", "aria-labelledby": "records-title" },
      h("h2", { id: "records-title" }, `${collection}`),
      records.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Record"), h("th", {}, "Updated"), h("th", {}))),
        h("tbody", {}, records.map((r) => {
          const remove = h("button", { class: "danger", "aria-label": `Delete record ${r.id}`, onclick: async () => {
            if (!(await confirmDialog(`Delete record ${r.id}?`, h("p", {}, "A scenario that writes it will create it again."), "Delete", true))) return;
            await busy(remove, async () => { await del(`/api/store/${seg(collection)}/${seg(r.id)}`); render(main, ctx, collection); });
          } }, "Delete");
          return h("tr", { "data-record": r.id }, h("td", {}, r.id), h("td", {}, json(r.data)), h("td", {}, r.updated_at ? new Date(r.updated_at).toLocaleString() : "—"), h("td", { class: "actions" }, remove));
        })))
        : h("p", { class: "muted" }, "This collection is empty."),
      page.next_cursor ? h("a", { class: "button", href: `#/store/${seg(collection)}?cursor=${seg(page.next_cursor)}` }, "Next page") : null));
}
