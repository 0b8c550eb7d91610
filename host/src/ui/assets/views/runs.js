// Runs: the history with status, duration and item counts; one run's progress while it goes
// (refreshed every second), its events, and each item's steps with input, output, error,
// attempts and the outbound requests they made.

import { h, mount, badge, time, duration, json, busy, notice } from "../dom.js";
import { get, post, seg } from "../api.js";

const LIVE = new Set(["queued", "running"]);

function took(run) {
  if (!run.started_at) return null;
  return (run.finished_at || Date.now()) - run.started_at;
}

export async function renderList(main, ctx) {
  const scenario = ctx.query.get("scenario");
  const draw = async () => {
    const [{ runs, next_cursor }, { scenarios }] = await Promise.all([
      get(`/api/runs?limit=50${scenario ? `&scenario=${seg(scenario)}` : ""}`), get("/api/scenarios?limit=200"),
    ]);
    const names = new Map(scenarios.map((s) => [s.id, s.name]));
    mount(main,
      h("h1", {}, scenario ? `Runs of ${names.get(scenario) || scenario}` : "Runs"),
      h("div", { class: "panel" }, runs.length ? h("table", {},
        h("thead", {}, h("tr", {}, ["Run", "Scenario", "Status", "Started", "Duration", "Items done", "Failed", "Skipped", "Pages"].map((t) => h("th", {}, t)))),
        h("tbody", {}, runs.map((r) => h("tr", {},
          h("td", {}, h("a", { href: `#/runs/${seg(r.id)}` }, r.id)),
          h("td", {}, names.get(r.scenario_id) || r.scenario_id),
          h("td", {}, badge(r.status), r.error ? h("div", { class: "help error-text" }, r.error) : null),
          h("td", {}, time(r.started_at || r.created_at)),
          h("td", {}, duration(took(r))),
          h("td", {}, r.items_done), h("td", {}, r.items_failed), h("td", {}, r.items_skipped), h("td", {}, r.pages)))))
        : h("p", { class: "muted" }, "No runs yet."),
        next_cursor ? h("p", { class: "help" }, "Showing the 50 newest.") : null));
    return runs.some((r) => LIVE.has(r.status));
  };
  const live = await draw();
  if (live) {
    const timer = setInterval(async () => { if (!(await draw().catch(() => false))) clearInterval(timer); }, 2000);
    ctx.onLeave(() => clearInterval(timer));
  }
}

export async function renderOne(main, ctx, id) {
  let shown = 100;
  let timer = null;
  const draw = async () => {
    const detail = await get(`/api/runs/${seg(id)}?limit=${shown}`);
    const run = detail; // the run's fields, with its events and items
    const scenario = await get(`/api/scenarios/${seg(run.scenario_id)}`).catch(() => null);
    const live = LIVE.has(run.status);
    const cancel = live ? h("button", { class: "danger", onclick: () => busy(cancel, async () => { await post(`/api/runs/${seg(id)}/cancel`); notice("Cancelling: the run stops at its next item"); }) }, "Cancel") : null;
    const processed = run.items_done + run.items_failed + run.items_skipped;
    mount(main,
      h("div", { class: "spread" }, h("h1", {}, `Run ${run.id}`), cancel),
      h("section", { class: "panel", "aria-labelledby": "run-progress" },
        h("h2", { id: "run-progress" }, scenario ? h("a", { href: `#/scenarios/${seg(scenario.id)}` }, scenario.name) : run.scenario_id, " ", badge(run.status)),
        live ? h("div", { class: "progress indeterminate", role: "progressbar", "aria-label": "Run in progress", "aria-valuetext": `${processed} items so far` }, h("div", {})) : null,
        h("div", { class: "counters", "data-testid": "counters" },
          counter("Items done", run.items_done, "items-done"), counter("Failed", run.items_failed, "items-failed"),
          counter("Skipped", run.items_skipped, "items-skipped"), counter("Pages read", run.pages, "pages"),
          counter("Duration", duration(took(run)), "duration"), counter("Attempts", run.attempts, "attempts")),
        run.error ? h("p", { class: "error-text" }, run.error) : null,
        h("p", { class: "help" }, `Trigger: ${run.trigger_kind} · queued `, time(run.created_at), run.finished_at ? [" · finished ", time(run.finished_at)] : null)),
      detail.events.length ? h("section", { class: "panel" }, h("h2", {}, "Events"),
        h("ul", {}, detail.events.map((e) => h("li", {}, time(e.at), ` ${e.level}: ${e.message}`)))) : null,
      h("section", { class: "panel", "aria-labelledby": "run-items" },
        h("h2", { id: "run-items" }, `Items (${detail.items.length}${processed > detail.items.length ? ` of ${processed}` : ""})`),
        detail.items.length ? detail.items.map(itemView) : h("p", { class: "muted" }, live ? "Waiting for the first item…" : "No items."),
        processed > shown ? h("button", { onclick: () => { shown += 100; draw(); } }, "Show more") : null));
    return live;
  };
  const tick = async () => {
    let live = false;
    try {
      live = await draw();
    } catch (e) {
      // A missed refresh is retried; one that keeps failing says why.
      if (!main.querySelector("[data-counter]")) mount(main, h("p", { class: "error-text" }, e.message));
      live = true;
    }
    timer = live ? setTimeout(tick, 1000) : null;
  };
  ctx.onLeave(() => timer && clearTimeout(timer));
  await tick();
}

function counter(label, value, id) {
  return h("div", { "data-counter": id }, h("strong", {}, String(value)), h("span", { class: "help" }, label));
}

function itemView(item) {
  return h("details", { class: "panel", "data-item": item.item_id },
    h("summary", {}, `#${item.seq} · ${item.item_id} `, badge(item.status), item.error ? h("span", { class: "error-text" }, ` ${item.error}`) : null),
    h("table", {}, h("thead", {}, h("tr", {}, ["Step", "Status", "Attempts", "Time", "Input", "Output / error", "Requests"].map((t) => h("th", {}, t)))),
      h("tbody", {}, item.steps.map((s) => h("tr", { "data-step": s.node_id },
        h("td", {}, s.node_id), h("td", {}, badge(s.status)), h("td", {}, s.attempts),
        h("td", {}, duration(Math.round(s.duration_us / 1000))),
        h("td", {}, s.input === null ? "—" : json(s.input)),
        h("td", {}, s.error ? h("p", { class: "error-text" }, `${s.error_code || "error"}: ${s.error}`) : s.output === null ? "—" : json(s.output)),
        h("td", {}, requestsView(s.requests)))))));
}

function requestsView(requests) {
  if (!Array.isArray(requests) || !requests.length) return "—";
  return h("ul", {}, requests.map((r) => h("li", {}, `${r.method || ""} ${r.url || ""} → ${r.status ?? r.error ?? "?"}`)));
}
