// Connections: the list with status and account, adding one (a form made from the
// connector's connection schema, or "Connect" for OAuth) after the consent screen, and one
// connection's page: test, edit, disable, delete.

import { h, mount, badge, time, busy, notice, confirmDialog, errorText, accountLabel, json } from "../dom.js";
import { get, post, patch, del, seg } from "../api.js";
import { schemaForm } from "../schema_form.js";

export async function renderList(main) {
  const [{ connections }, { connectors }] = await Promise.all([get("/api/connections?limit=200"), get("/api/connectors?limit=1000")]);
  const picker = h("select", { "aria-label": "Connector to connect" },
    connectors.filter((c) => c.status === "active").map((c) => h("option", { value: c.id }, c.name)));
  mount(main,
    h("div", { class: "spread" }, h("h1", {}, "Connections"),
      h("div", { class: "row" }, picker,
        h("button", { class: "primary", onclick: () => { location.hash = `#/connections/new/${seg(picker.value)}`; } }, "Add connection"))),
    h("div", { class: "panel" },
      connections.length ? h("table", {},
        h("thead", {}, h("tr", {}, ["Name", "Connector", "Status", "Account", "Last used", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, connections.map((c) => h("tr", {},
          h("td", {}, h("a", { href: `#/connections/${seg(c.id)}` }, c.name)),
          h("td", {}, c.connector),
          h("td", {}, badge(c.enabled ? c.status : "disabled"), c.last_error ? h("div", { class: "help error-text" }, c.last_error) : null),
          h("td", {}, accountLabel(c.account)),
          h("td", {}, time(c.last_used_at)),
          h("td", { class: "actions" }, h("a", { class: "button", href: `#/connections/${seg(c.id)}` }, "Open"))))))
      : h("p", { class: "muted" }, "No connections yet.")));
}

/** The hosts a connector reaches, with `{field}` filled from what the user typed. */
function hostsText(hosts, values) {
  return hosts.map((host) => host.replace(/\{([a-z0-9_]+)\}/gi, (all, name) => (values[name] ? String(values[name]) : all)));
}

/** The consent screen: what the connector reaches with the user's account. */
function consentPanel(consent, values) {
  const items = [
    h("li", {}, "It sends your data to, and reads it from: ",
      hostsText(consent.hosts, values).map((host, i) => [i ? ", " : "", h("code", {}, host)])),
    h("li", {}, `It signs in as you with: ${consent.auth}`),
  ];
  if (consent.oauth_scopes.length) items.push(h("li", {}, `It asks ${consent.name} for: ${consent.oauth_scopes.join(", ")}`));
  items.push(h("li", {}, consent.private_network
    ? "It may reach private network addresses (allowed by your admin)."
    : "It may not reach private network addresses."));
  return h("section", { class: "panel", "aria-labelledby": "consent-title" },
    h("h2", { id: "consent-title" }, `Allow ${consent.name} to use your account?`),
    h("p", {}, `${consent.name}, published by ${consent.publisher}, runs in Heph's sandbox. With this connection:`),
    h("ul", { class: "caps" }, items),
    consent.granted ? h("p", { class: "muted" }, "You agreed to this before.") : null);
}

export async function renderNew(main, ctx, connectorId) {
  const connector = await get(`/api/connectors/${seg(connectorId)}`);
  const consent = await get(`/api/connectors/${seg(connectorId)}/consent`);
  const oauth = connector.auth === "oauth2";
  const name = h("input", { value: connector.name, required: true });
  const form = schemaForm(connector.connection_schema, {});
  const agree = h("input", { type: "checkbox", id: "consent-agree", checked: !!consent.granted });
  const error = h("p", { class: "error-text", role: "alert" });
  const consentBox = h("div", {});
  const submit = h("button", { class: "primary", type: "submit" }, oauth ? `Connect with ${connector.name}` : "Save and test");
  const redraw = () => {
    let values = {};
    try { values = form.read(); } catch { /* half-typed JSON */ }
    mount(consentBox, consentPanel(consent, values));
  };
  const el = h("form", { class: "panel" },
    h("p", { class: "muted" }, connector.description),
    h("div", { class: "field" }, h("label", { for: "conn-name", class: "required" }, "Name"), Object.assign(name, { id: "conn-name" })),
    form.element,
    consentBox,
    h("div", { class: "row" }, agree, h("label", { for: "consent-agree", style: "margin:0" }, `I agree to let ${connector.name} use my account as described above`)),
    error,
    h("div", { class: "row", style: "margin-top:12px" }, submit, h("a", { class: "button", href: "#/connections" }, "Cancel")));
  el.addEventListener("input", redraw);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!agree.checked) {
      error.textContent = "Tick the consent box first: nothing is connected without your agreement.";
      agree.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const fields = form.read();
        if (oauth) {
          const started = await post("/api/connections/oauth/start", { connector: connector.id, name: name.value, fields, consent: true });
          location.href = started.authorize_url;
          return;
        }
        const created = await post("/api/connections", { connector: connector.id, name: name.value, fields, consent: true });
        if (created.status === "error" || created.last_error) notice(`Saved, but the test failed: ${created.last_error}`, "bad");
        else notice(`Connected${created.account ? " as " + accountLabel(created.account) : ""}`);
        location.hash = `#/connections/${seg(created.id)}`;
      } catch (e) {
        error.textContent = errorText(e);
      }
    });
  });
  redraw();
  mount(main, h("h1", {}, `Connect ${connector.name}`), el);
}

export async function renderOne(main, ctx, id, tested = null) {
  const c = await get(`/api/connections/${seg(id)}`);
  const connector = await get(`/api/connectors/${seg(c.connector)}`).catch(() => null);
  const result = h("div", { role: "status" }, tested === null ? null : tested.ok
    ? h("p", {}, "✔ The connection works. Account: ", h("strong", {}, accountLabel(tested.account)))
    : h("p", { class: "error-text" }, "✘ ", (tested.error && tested.error.message) || "the test failed"));
  const test = h("button", { class: "primary", onclick: () => busy(test, async () => {
    renderOne(main, ctx, id, await post(`/api/connections/${seg(id)}/test`));
  }) }, "Test");
  const toggle = h("button", { onclick: () => busy(toggle, async () => {
    await patch(`/api/connections/${seg(id)}`, { enabled: !c.enabled });
    notice(c.enabled ? "Disabled" : "Enabled");
    renderOne(main, ctx, id);
  }) }, c.enabled ? "Disable" : "Enable");
  const remove = h("button", { class: "danger", onclick: async () => {
    const ok = await confirmDialog(`Delete ${c.name}?`, h("p", {}, "Its stored credentials are erased and OAuth tokens revoked. Scenarios using it will fail until they get another connection."), "Delete", true);
    if (!ok) return;
    await busy(remove, async () => {
      await del(`/api/connections/${seg(id)}`);
      notice("Deleted");
      location.hash = "#/connections";
    });
  } }, "Delete");
  const editor = h("div", {});
  const edit = h("button", { onclick: () => mount(editor, editForm(c, connector, () => renderOne(main, ctx, id))) }, "Edit");
  mount(main,
    h("h1", {}, c.name),
    h("div", { class: "panel" },
      h("table", {}, h("tbody", {},
        row("Connector", c.connector), row("Status", [badge(c.enabled ? c.status : "disabled")]),
        row("Account", accountLabel(c.account)), row("Last error", c.last_error || "—"),
        row("Sign-in", c.auth), row("Fields", json(c.fields)), row("Secrets kept", c.secrets_set.join(", ") || "—"),
        row("Created", [time(c.created_at)]), row("Last used", [time(c.last_used_at)]),
        c.token_expires_at ? row("Token expires", [time(c.token_expires_at)]) : null)),
      h("div", { class: "row", style: "margin-top:12px" }, test, edit, toggle, remove),
      result),
    editor);
}

function row(label, value) {
  return h("tr", {}, h("th", { scope: "row", style: "width:180px" }, label), h("td", {}, value));
}

function editForm(c, connector, done) {
  const name = h("input", { value: c.name, id: "edit-name" });
  const form = schemaForm(connector ? connector.connection_schema : {}, c.fields, { keepSecrets: true });
  const error = h("p", { class: "error-text", role: "alert" });
  const save = h("button", { class: "primary", type: "submit" }, "Save");
  const el = h("form", { class: "panel" }, h("h2", {}, "Edit"),
    h("div", { class: "field" }, h("label", { for: "edit-name" }, "Name"), name),
    form.element, error, h("div", { class: "row" }, save));
  el.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, async () => {
      try {
        await patch(`/api/connections/${seg(c.id)}`, { name: name.value, fields: form.read() });
        notice("Saved");
        done();
      } catch (e) {
        error.textContent = errorText(e);
      }
    });
  });
  return el;
}
