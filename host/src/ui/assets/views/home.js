// Home: what can be connected, what is connected, and how the scenarios are doing.

import { h, mount, badge, time, accountLabel } from "../dom.js";
import { get, seg } from "../api.js";

export async function render(main, ctx) {
  const [connectors, connections, scenarios, runs] = await Promise.all([
    get("/api/connectors?limit=1000"), get("/api/connections?limit=200"), get("/api/scenarios?limit=200"), get("/api/runs?limit=100"),
  ]);
  const lastRun = new Map();
  for (const run of runs.runs) if (!lastRun.has(run.scenario_id)) lastRun.set(run.scenario_id, run);
  const active = connectors.connectors.filter((c) => c.status === "active");
  mount(main,
    h("h1", {}, `Welcome, ${ctx.me.name}`),
    h("div", { class: "grid" },
      h("section", { class: "panel", "aria-labelledby": "home-conn" },
        h("div", { class: "spread" }, h("h2", { id: "home-conn" }, "Your connections"), h("a", { href: "#/connections" }, "All")),
        connections.connections.length
          ? h("ul", {}, connections.connections.map((c) => h("li", {},
              h("a", { href: `#/connections/${seg(c.id)}` }, c.name), " ", badge(c.enabled ? c.status : "disabled"),
              h("div", { class: "help" }, `${c.connector} · ${accountLabel(c.account)}`))))
          : h("p", { class: "muted" }, "None yet: connect an account from the list of connectors.")),
      h("section", { class: "panel", "aria-labelledby": "home-scen" },
        h("div", { class: "spread" }, h("h2", { id: "home-scen" }, "Scenarios"), h("a", { class: "button primary", href: "#/scenarios/new" }, "New scenario")),
        scenarios.scenarios.length
          ? h("ul", {}, scenarios.scenarios.map((s) => {
              const run = lastRun.get(s.id);
              return h("li", {},
                h("a", { href: `#/scenarios/${seg(s.id)}` }, s.name), " ", badge(s.enabled ? "enabled" : "disabled"),
                h("div", { class: "help" }, `${s.trigger} · last run: `,
                  run ? [h("a", { href: `#/runs/${seg(run.id)}` }, run.status), " ", time(run.created_at)] : "never"));
            }))
          : h("p", { class: "muted" }, "None yet."))),
    h("section", { class: "panel", "aria-labelledby": "home-apps" },
      h("h2", { id: "home-apps" }, "Available connectors"),
      h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Connector"), h("th", {}, "What it does"), h("th", {}, "Sign-in"), h("th", {}))),
        h("tbody", {}, active.map((c) => h("tr", {},
          h("td", {}, h("strong", {}, c.name), h("div", { class: "help" }, `${c.id} ${c.version} · ${c.publisher}`)),
          h("td", {}, c.description),
          h("td", {}, c.auth),
          h("td", { class: "actions" }, h("a", { class: "button", href: `#/connections/new/${seg(c.id)}` }, "Connect")))))),
      active.length ? null : h("p", { class: "muted" }, "No connector is installed yet; an admin installs them from the registry.")));
}
