// The user's own account: password, API tokens (made, listed, revoked), browser sessions,
// and the consents given to connectors (withdrawn here).

import { h, mount, time, busy, notice, field, errorText, confirmDialog } from "../dom.js";
import { get, post, put, del, seg } from "../api.js";

export async function render(main, ctx) {
  const [{ tokens }, { sessions }, { consents }, current] = await Promise.all([
    get("/api/tokens"), get("/api/sessions"), get("/api/consents"), get("/api/session"),
  ]);
  const again = () => render(main, ctx);
  const newToken = h("div", { role: "status" });
  const tokenName = h("input", { placeholder: "what it is for", required: true });
  const scopes = ["read", "write", ...(ctx.me.role === "admin" ? ["admin"] : [])].map((s) => {
    const box = h("input", { type: "checkbox", checked: s !== "admin", value: s, id: `scope-${s}` });
    return [box, h("label", { for: `scope-${s}`, style: "display:inline;margin:0 12px 0 4px;font-weight:normal" }, s)];
  });
  const create = h("button", { class: "primary", type: "submit" }, "Create token");
  const tokenForm = h("form", { class: "row" }, field("Token name", tokenName), h("div", { class: "row" }, scopes), create);
  tokenForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create, async () => {
      const chosen = scopes.map(([box]) => box).filter((b) => b.checked).map((b) => b.value);
      const made = await post("/api/tokens", { name: tokenName.value, scopes: chosen });
      await again();
      mount(main.querySelector("#new-token"), h("p", {}, "Your new token, shown only now — copy it: "), h("code", { "data-token": "new" }, made.token));
    });
  });
  const current_password = h("input", { type: "password", autocomplete: "current-password", required: true });
  const new_password = h("input", { type: "password", autocomplete: "new-password", minlength: 10, required: true });
  const pwError = h("p", { class: "error-text", role: "alert" });
  const change = h("button", { type: "submit" }, "Change password");
  const pwForm = h("form", {}, field("Current password", current_password), field("New password", new_password, "At least 10 characters. Every session (this one too) ends."), pwError, change);
  pwForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(change, async () => {
      try {
        await put("/api/me/password", { current: current_password.value, new: new_password.value });
        notice("Password changed; sign in again.");
        window.dispatchEvent(new Event("heph:signed-out"));
      } catch (err) { pwError.textContent = errorText(err); }
    });
  });
  mount(main,
    h("h1", {}, `${ctx.me.name}`),
    h("section", { class: "panel" }, h("h2", {}, "API tokens"),
      h("p", { class: "help" }, "For scripts and other programs: send it as Authorization: Bearer TOKEN."),
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Scopes", "Created", "Last used", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, tokens.map((t) => {
          const revoke = h("button", { class: "danger", onclick: async () => {
            if (!(await confirmDialog(`Revoke ${t.name}?`, h("p", {}, "Programs using it stop working at once."), "Revoke", true))) return;
            busy(revoke, async () => { await del(`/api/tokens/${seg(t.id)}`); again(); });
          } }, "Revoke");
          return h("tr", {}, h("td", {}, t.name), h("td", {}, t.scopes.join(" ")), h("td", {}, time(t.created_at)), h("td", {}, time(t.last_used_at)), h("td", { class: "actions" }, revoke));
        }))),
      tokenForm, h("div", { id: "new-token" }, newToken)),
    h("section", { class: "panel" }, h("h2", {}, "Signed-in browsers"),
      h("table", {}, h("tbody", {}, sessions.map((s) => {
        const end = h("button", { onclick: () => busy(end, async () => { await del(`/api/sessions/${seg(s.id)}`); if (s.id === current.session.id) window.dispatchEvent(new Event("heph:signed-out")); else again(); }) }, s.id === current.session.id ? "Sign out" : "End");
        return h("tr", {}, h("td", {}, s.user_agent || "unknown browser", s.id === current.session.id ? " (this one)" : ""), h("td", {}, "since ", time(s.created_at)), h("td", {}, "seen ", time(s.last_seen_at)), h("td", { class: "actions" }, end));
      })))),
    h("section", { class: "panel" }, h("h2", {}, "Consents given"),
      consents.length ? h("table", {}, h("tbody", {}, consents.map((c) => {
        const withdraw = h("button", { class: "danger", onclick: () => busy(withdraw, async () => { await del(`/api/consents/${seg(c.connector_id)}`); notice("Withdrawn: the next connection asks again"); again(); }) }, "Withdraw");
        return h("tr", {}, h("td", {}, c.connector_id), h("td", {}, "given ", time(c.granted_at)), h("td", { class: "actions" }, withdraw));
      }))) : h("p", { class: "muted" }, "None.")),
    h("section", { class: "panel" }, h("h2", {}, "Password"), pwForm));
}
