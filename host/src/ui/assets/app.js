// The dashboard's shell: who is signed in, the navigation, and which view a `#/…` address
// shows. Each view is a module with `render(main, ctx, ...params)`; a view that polls
// registers its clean-up with `ctx.onLeave`.

import { h, mount, notice, errorText } from "./dom.js";
import { get, del, setCsrf } from "./api.js";
import * as login from "./views/login.js";
import * as home from "./views/home.js";
import * as connections from "./views/connections.js";
import * as scenarios from "./views/scenarios.js";
import * as builder from "./views/builder.js";
import * as runs from "./views/runs.js";
import * as store from "./views/store.js";
import * as account from "./views/account.js";
import * as admin from "./views/admin.js";
import * as registry from "./views/registry.js";

const ROUTES = [
  [/^\/$/, home.render],
  [/^\/connections$/, connections.renderList],
  [/^\/connections\/new\/([^/]+)$/, connections.renderNew],
  [/^\/connections\/([^/]+)$/, connections.renderOne],
  [/^\/scenarios$/, scenarios.render],
  [/^\/scenarios\/new$/, builder.render],
  [/^\/scenarios\/([^/]+)$/, builder.render],
  [/^\/runs$/, runs.renderList],
  [/^\/runs\/([^/]+)$/, runs.renderOne],
  [/^\/store$/, store.render],
  [/^\/store\/([^/]+)$/, store.render],
  [/^\/account$/, account.render],
  [/^\/admin\/users$/, admin.renderUsers, true],
  [/^\/admin\/connectors$/, admin.renderConnectors, true],
  [/^\/admin\/registry$/, registry.renderSearch, true],
  [/^\/admin\/registry\/([^/]+)$/, registry.renderOne, true],
];

const NAV = [
  ["#/", "Home"], ["#/connections", "Connections"], ["#/scenarios", "Scenarios"],
  ["#/runs", "Runs"], ["#/store", "Data store"],
];
const ADMIN_NAV = [["#/admin/users", "Users"], ["#/admin/connectors", "Connectors"], ["#/admin/registry", "Registry"]];

const state = { me: null, leave: [] };

function leaveView() {
  for (const fn of state.leave.splice(0)) {
    try { fn(); } catch { /* a view's clean-up must not stop the next view */ }
  }
}

function drawChrome() {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!state.me) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  const items = state.me.role === "admin" ? NAV.concat(ADMIN_NAV) : NAV;
  const path = location.hash || "#/";
  mount(nav, items.map(([href, text]) => {
    const current = href === "#/" ? path === "#/" || path === "" : path.startsWith(href);
    return h("a", { href, "aria-current": current ? "page" : null }, text);
  }));
  mount(who,
    h("a", { href: "#/account", title: "Your account, tokens and sessions" }, state.me.name, state.me.role === "admin" ? " (admin)" : ""),
    h("button", { type: "button", onclick: signOut }, "Sign out"));
}

async function signOut() {
  try { await del("/api/session"); } catch { /* signed out already */ }
  state.me = null;
  setCsrf(null);
  location.hash = "#/";
  route();
}

async function route() {
  leaveView();
  const main = document.getElementById("main");
  if (!state.me) {
    drawChrome();
    login.render(main, async (session) => {
      state.me = session.user;
      setCsrf(session.csrf_token);
      route();
    });
    return;
  }
  drawChrome();
  const [path, query] = ((location.hash || "#/").slice(1) || "/").split("?");
  const ctx = {
    query: new URLSearchParams(query || ""),
    me: state.me,
    onLeave: (fn) => state.leave.push(fn),
    go: (hash) => { location.hash = hash; },
  };
  for (const [pattern, view, adminOnly] of ROUTES) {
    const match = path.match(pattern);
    if (!match) continue;
    if (adminOnly && state.me.role !== "admin") {
      mount(main, h("h1", {}, "Admins only"), h("p", {}, "This page is for admins. Ask an admin of this server if you need something here."));
      return;
    }
    mount(main, h("p", { class: "muted" }, "Loading…"));
    try {
      await view(main, ctx, ...match.slice(1).map(decodeURIComponent));
    } catch (e) {
      mount(main, h("h1", {}, "Something went wrong"), h("p", { class: "error-text" }, errorText(e)));
    }
    main.focus({ preventScroll: true });
    return;
  }
  mount(main, h("h1", {}, "Not found"), h("p", {}, "There is no page here. ", h("a", { href: "#/" }, "Go home")));
}

window.addEventListener("hashchange", route);
window.addEventListener("heph:signed-out", () => {
  if (!state.me) return;
  state.me = null;
  notice("Your session ended; sign in again.", "bad");
  route();
});

async function start() {
  try {
    const session = await get("/api/session");
    state.me = session.user;
    setCsrf(session.csrf_token);
  } catch {
    state.me = null;
  }
  route();
}

start();
