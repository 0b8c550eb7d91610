// Building the page: elements from plain data, text always as text (never as HTML, so a
// connector's or a user's strings cannot inject markup), and the small shared pieces.

/** An element: h("button", {class: "primary", onclick}, "Save"). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    // Through the CSSOM: the page's policy refuses style attributes.
    else if (key === "style") el.style.cssText = value;
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = !!value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A short message in the corner, read out by screen readers. */
export function notice(message, kind = "") {
  const el = h("div", { class: `notice ${kind}` }, message);
  document.getElementById("notices").appendChild(el);
  setTimeout(() => el.remove(), kind === "bad" ? 9000 : 4000);
}

/** An error as one line for people: the API's message, and the fields it names. */
export function errorText(e) {
  if (!e) return "";
  const fields = e.details && e.details.fields;
  const extra = fields && typeof fields === "object"
    ? " — " + Object.entries(fields).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`).join("; ")
    : "";
  return (e.message || String(e)) + extra;
}

/** Runs an action from a button: disables it meanwhile, reports failure. */
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (e) {
    notice(errorText(e), "bad");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export function badge(status) {
  return h("span", { class: `badge ${String(status).replace(/[^a-z_]/gi, "")}` }, String(status).replaceAll("_", " "));
}

export function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function time(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return h("time", { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString());
}

export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s % 60)} s`;
}

/** A labelled form field; `input` gets the label's id. */
let fieldCount = 0;
export function field(label, input, help, required) {
  const id = input.id || `f${++fieldCount}`;
  input.id = id;
  const helpId = help ? `${id}-help` : null;
  if (helpId) input.setAttribute("aria-describedby", helpId);
  return h("div", { class: "field" },
    h("label", { for: id, class: required ? "required" : "" }, label),
    input,
    help ? h("p", { class: "help", id: helpId }, help) : null);
}

/** A modal question; resolves to true when confirmed. Escape and Cancel say no. */
export function confirmDialog(title, body, confirmLabel = "Confirm", danger = false) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "dlg-title" });
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    mount(dialog,
      h("h2", { id: "dlg-title" }, title),
      body,
      h("div", { class: "row", style: "justify-content:flex-end;margin-top:14px" },
        h("button", { onclick: () => done(false) }, "Cancel"),
        h("button", { class: danger ? "danger" : "primary", onclick: () => done(true) }, confirmLabel)));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** The account a connection test found, in words. */
export function accountLabel(account) {
  if (!account || typeof account !== "object") return "—";
  const parts = [account.name, account.email, account.username, account.login, account.id]
    .filter((v) => v !== undefined && v !== null && v !== "");
  return parts.length ? parts.slice(0, 2).join(" · ") : JSON.stringify(account);
}
