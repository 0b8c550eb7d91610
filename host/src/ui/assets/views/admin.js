// Admin pages: users (create, change a role, reset a password, delete) and the installed connectors (approve a
// pending version after its review, roll back, remove, let one reach private networks, set
// an OAuth app), and the publishers this host trusts.

import { h, mount, badge, time, busy, notice, field, errorText, confirmDialog } from "../dom.js";
import { get, post, put, patch, del, seg } from "../api.js";
import { reviewPanel, capabilitiesList } from "./registry.js";

export async function renderUsers(main, ctx) {
  const { users } = await get("/api/users?limit=1000");
  const again = () => renderUsers(main, ctx);
  const name = h("input", { required: true, autocomplete: "off" });
  const password = h("input", { type: "password", autocomplete: "new-password", minlength: 10 });
  const admin = h("input", { type: "checkbox", id: "new-admin" });
  const error = h("p", { class: "error-text", role: "alert" });
  const create = h("button", { class: "primary", type: "submit" }, "Create user");
  const form = h("form", {}, h("h2", {}, "New user"), field("Name", name), field("Password", password, "At least 10 characters; without one the user works only with API tokens."),
    h("div", { class: "row" }, admin, h("label", { for: "new-admin", style: "margin:0" }, "Admin")), error, create);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(create, async () => {
      try {
        await post("/api/users", { name: name.value, password: password.value || undefined, role: admin.checked ? "admin" : "member" });
        notice(`Created ${name.value}`);
        again();
      } catch (err) { error.textContent = errorText(err); }
    });
  });
  mount(main, h("h1", {}, "Users"),
    h("div", { class: "panel" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Role", "Created", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, users.map((u) => {
        const reset = h("button", { onclick: async () => {
          const input = h("input", { type: "password", minlength: 10, autocomplete: "new-password", id: "reset-pw" });
          if (!(await confirmDialog(`New password for ${u.name}`, field("Password", input, "At least 10 characters; their sessions end."), "Set password"))) return;
          busy(reset, async () => { await put(`/api/users/${seg(u.id)}/password`, { password: input.value }); notice(`Password of ${u.name} set`); });
        } }, "Set password");
        return h("tr", { "data-user": u.name }, h("td", {}, u.name), h("td", {}, roleSelect(u, ctx)), h("td", {}, time(u.created_at)),
          h("td", { class: "actions" }, reset, deleteButton(u, ctx, again)));
      })))),
    h("div", { class: "panel" }, form));
}

/** A user's role, changed as soon as another is picked (the server keeps the last admin). */
function roleSelect(user, ctx) {
  const select = h("select", { "aria-label": `Role of ${user.name}` },
    ["member", "admin"].map((r) => h("option", { value: r, selected: r === user.role }, r)));
  select.addEventListener("change", () => busy(select, async () => {
    try {
      await patch(`/api/users/${seg(user.id)}`, { role: select.value });
      notice(`${user.name} is now ${select.value === "admin" ? "an admin" : "a member"}`);
      if (user.id === ctx.me.id) location.reload(); // one's own menus change with one's role
    } catch (err) {
      select.value = user.role;
      throw err;
    }
  }));
  return select;
}

/** Deletes a user with everything of theirs, after saying what that is. */
function deleteButton(user, ctx, again) {
  if (user.id === ctx.me.id) return null;
  const button = h("button", { class: "danger", onclick: async () => {
    const body = h("p", {}, `${user.name}'s API tokens, sessions, connections (with their stored secrets), scenarios, runs and data store records are deleted with them. This cannot be undone.`);
    if (!(await confirmDialog(`Delete ${user.name}?`, body, "Delete user", true))) return;
    busy(button, async () => { await del(`/api/users/${seg(user.id)}`); notice(`Deleted ${user.name}`); again(); });
  } }, "Delete");
  return button;
}

export async function renderConnectors(main, ctx) {
  const [{ connectors }, { publishers }] = await Promise.all([get("/api/connectors?limit=1000"), get("/api/publishers?limit=1000")]);
  const again = () => renderConnectors(main, ctx);
  const reviewBox = h("div", {});
  const rows = connectors.map((c) => {
    const actions = [];
    if (c.pending_digest) {
      const review = h("button", { class: "primary", onclick: () => busy(review, async () => {
        const { versions } = await get(`/api/connectors/${seg(c.id)}/versions`);
        const pending = versions.find((v) => v.digest === c.pending_digest);
        mount(reviewBox, reviewPanel({
          id: c.id, name: c.name, version: pending ? pending.version : "?", publisher: pending ? pending.publisher : c.publisher,
          key: pending ? pending.key || "" : "", digest: c.pending_digest, description: c.description,
          capabilities: pending ? pending.capabilities : null, active_version: c.status === "active" ? c.version : null,
          needs_approval: c.pending_reason ? [c.pending_reason] : [],
        }, again));
        reviewBox.scrollIntoView();
      }) }, "Review");
      actions.push(review);
    }
    if (c.previous_digest) {
      const back = h("button", { onclick: async () => {
        if (!(await confirmDialog(`Roll ${c.name} back?`, h("p", {}, "The previous version runs again at once."), "Roll back"))) return;
        busy(back, async () => { await post(`/api/connectors/${seg(c.id)}/rollback`); notice(`${c.name} rolled back`); again(); });
      } }, "Roll back");
      actions.push(back);
    }
    const priv = h("button", { onclick: () => busy(priv, async () => {
      await patch(`/api/connectors/${seg(c.id)}`, { allow_private_network: !c.allow_private_network });
      again();
    }) }, c.allow_private_network ? "Deny private network" : "Allow private network");
    actions.push(priv);
    if (c.auth === "oauth2") actions.push(h("button", { onclick: () => oauthApp(c) }, "OAuth app"));
    const remove = h("button", { class: "danger", onclick: async () => {
      const disable = h("input", { type: "checkbox", id: "disable-scenarios" });
      if (!(await confirmDialog(`Remove ${c.name}?`, h("div", {}, h("p", {}, "Connections of it stop working."), h("div", { class: "row" }, disable, h("label", { for: "disable-scenarios", style: "margin:0" }, "Disable the scenarios that use it"))), "Remove", true))) return;
      busy(remove, async () => { await del(`/api/connectors/${seg(c.id)}?disable_scenarios=${disable.checked}`); notice(`${c.name} removed`); again(); });
    } }, "Remove");
    actions.push(remove);
    return h("tr", { "data-connector": c.id },
      h("td", {}, h("strong", {}, c.name), h("div", { class: "help" }, `${c.id} · ${c.publisher} · ${c.source}`)),
      h("td", {}, c.version, c.pending_digest ? h("div", { class: "help" }, "a version awaits approval") : null),
      h("td", {}, badge(c.status), c.allow_private_network ? h("div", { class: "help" }, "may reach private networks") : null),
      h("td", {}, capabilitiesList({ hosts: c.hosts, auth: c.auth, private_network: c.allow_private_network })),
      h("td", { class: "actions" }, actions.map((a) => [a, " "])));
  });
  const pubName = h("input", { required: true });
  const pubKey = h("input", { required: true, placeholder: "ed25519:…" });
  const trust = h("button", { type: "submit" }, "Trust");
  const pubForm = h("form", { class: "row" }, field("Publisher", pubName), field("Public key", pubKey), trust);
  pubForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(trust, async () => { await post("/api/publishers", { name: pubName.value, public_key: pubKey.value }); again(); });
  });
  mount(main,
    h("div", { class: "spread" }, h("h1", {}, "Installed connectors"), h("a", { class: "button primary", href: "#/admin/registry" }, "Browse the registry")),
    reviewBox,
    h("div", { class: "panel" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Connector", "Version", "Status", "May", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))),
    h("section", { class: "panel" }, h("h2", {}, "Trusted publishers"),
      h("p", { class: "help" }, "Packages signed by these keys may be installed."),
      h("ul", {}, publishers.map((p) => {
        const drop = h("button", { class: "danger", onclick: () => busy(drop, async () => { await del(`/api/publishers/${seg(p.name)}`); again(); }) }, "Stop trusting");
        return h("li", {}, h("strong", {}, p.name), " ", h("code", {}, p.public_key), " ", drop);
      })), pubForm));
}

async function oauthApp(c) {
  const current = await get(`/api/connectors/${seg(c.id)}/oauth-app`).catch(() => ({}));
  const id = h("input", { value: current.client_id || "", id: "oauth-client-id" });
  const secret = h("input", { type: "password", id: "oauth-client-secret", autocomplete: "new-password" });
  const ok = await confirmDialog(`OAuth app of ${c.name}`, h("div", {}, field("Client id", id), field("Client secret", secret, current.client_secret_set ? "Leave empty to keep the stored secret." : "From the provider's developer console.")), "Save");
  if (!ok) return;
  try {
    await put(`/api/connectors/${seg(c.id)}/oauth-app`, { client_id: id.value, client_secret: secret.value || undefined });
    notice("Saved");
  } catch (e) { notice(errorText(e), "bad"); }
}
