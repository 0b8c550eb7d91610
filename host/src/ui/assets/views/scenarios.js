// Scenarios: each with its trigger, whether it runs on its own, and its last run; run one
// now, enable, disable, delete.

import { h, mount, badge, time, busy, notice, confirmDialog } from "../dom.js";
import { get, post, del, seg } from "../api.js";

/** Queues a run and opens it, to watch its progress. */
export async function runNow(id) {
  const started = await post(`/api/scenarios/${seg(id)}/run`, {});
  if (!started.new) notice("A run of it was already going; here it is.");
  location.hash = `#/runs/${seg(started.run.id)}`;
}

export async function render(main, ctx) {
  const [{ scenarios }, { runs }] = await Promise.all([get("/api/scenarios?limit=200"), get("/api/runs?limit=200")]);
  const lastRun = new Map();
  for (const run of runs) if (!lastRun.has(run.scenario_id)) lastRun.set(run.scenario_id, run);
  const rows = scenarios.map((s) => {
    const run = lastRun.get(s.id);
    const runButton = h("button", { class: "primary", onclick: () => busy(runButton, () => runNow(s.id)) }, "Run now");
    const toggle = h("button", { onclick: () => busy(toggle, async () => {
      await post(`/api/scenarios/${seg(s.id)}/${s.enabled ? "disable" : "enable"}`);
      notice(s.enabled ? `${s.name} will run only when started` : `${s.name} runs on its trigger now`);
      render(main, ctx);
    }) }, s.enabled ? "Disable" : "Enable");
    const remove = h("button", { class: "danger", onclick: async () => {
      if (!(await confirmDialog(`Delete ${s.name}?`, h("p", {}, "Its versions and runs are deleted with it."), "Delete", true))) return;
      await busy(remove, async () => { await del(`/api/scenarios/${seg(s.id)}`); render(main, ctx); });
    } }, "Delete");
    return h("tr", {},
      h("td", {}, h("a", { href: `#/scenarios/${seg(s.id)}` }, s.name), h("div", { class: "help" }, `version ${s.version}`)),
      h("td", {}, s.trigger, s.next_run_at ? h("div", { class: "help" }, "next: ", time(s.next_run_at)) : null),
      h("td", {}, badge(s.enabled ? "enabled" : "disabled"), s.paused ? h("div", { class: "help error-text" }, "paused") : null),
      h("td", {}, run ? [h("a", { href: `#/runs/${seg(run.id)}` }, badge(run.status)), " ", time(run.created_at)] : "never"),
      h("td", { class: "actions" }, runButton, " ", toggle, " ", remove));
  });
  mount(main,
    h("div", { class: "spread" }, h("h1", {}, "Scenarios"), h("a", { class: "button primary", href: "#/scenarios/new" }, "New scenario")),
    h("div", { class: "panel" }, scenarios.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Trigger", "Status", "Last run", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No scenarios yet. ", h("a", { href: "#/scenarios/new" }, "Build one"), ".")));
}
